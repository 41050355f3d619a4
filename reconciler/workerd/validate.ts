// A new version is proven on a throwaway workerd before it goes near the serving generation: the
// bundle must load (syntax, imports, wasm), answer /discover with at least one service, and pass
// Restate's own dry-run registration (which also catches breaking changes).
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { GridironError, asGridironError } from "../core/errors.ts";
import type { RestateAdmin } from "../restate/admin.ts";
import { buildWorkerdConfig, type ServedVersion, type WorkerdPolicy } from "./build.ts";
import { encodeWorkerdConfig } from "./encode.ts";
import { readRouterModules } from "./router-source.ts";
import { startScratchWorkerd } from "./scratch.ts";
import { bundleSourceMaps } from "./source-maps.ts";
import { frameLocations, mapStack, type SourceMapLookup } from "./stack.ts";
import { firstSyntaxError, formatSyntaxLocation, type SyntaxLocation } from "./syntax.ts";

const DISCOVER_ACCEPT = [2, 3, 4].map((v) => `application/vnd.restate.endpointmanifest.v${v}+json`).join(", ");

export interface ValidationResult {
  restateServices: string[];
  /** Restate service → its handler names, as the bundle's /discover lists them. */
  handlers: Map<string, string[]>;
  ms: number;
}

export interface ValidateDeps {
  logger: Logger;
  admin: RestateAdmin;
  /** The serving generation's policy: the scratch router checks signatures like the real one. */
  policy: WorkerdPolicy;
  /** Request identity headers for a path under the deployment URI (our own /discover call). */
  signRequest?: (path: string) => Record<string, string>;
  scratchDir: string;
  timeoutMs?: number;
  /**
   * Ask Restate for a dry-run registration of the scratch workerd (default true). Off in a
   * cluster: Restate runs elsewhere and cannot reach a scratch workerd on this machine's loopback;
   * the registrar's real registration is then Restate's check.
   */
  restateDryRun?: boolean;
}

export async function validateVersion(v: ServedVersion, deps: ValidateDeps): Promise<ValidationResult> {
  const { service, version } = v.spec;
  const started = performance.now();
  const fail = (message: string, context: Record<string, unknown> = {}) =>
    new GridironError("VERSION_INVALID", `bundle "${service}" (version ${version}): ${message}`, { service, version, ...context });

  const sourceMaps = bundleSourceMaps(service, version, v.files);
  await mkdir(deps.scratchDir, { recursive: true });
  const configPath = join(deps.scratchDir, `${service}-${version}.bin`);
  await writeFile(configPath, encodeWorkerdConfig(buildWorkerdConfig([v], await readRouterModules(), deps.policy)));
  let scratch;
  try {
    scratch = await startScratchWorkerd(configPath, { logger: deps.logger, timeoutMs: deps.timeoutMs ?? 15_000, routerVerifies: deps.policy.identityKeys !== null, sourceMaps });
  } catch (err) {
    await rm(configPath, { force: true });
    const reason = workerdReason(asGridironError(err), sourceMaps);
    const syntax = /SyntaxError/.test(reason) ? await syntaxErrorOf(v) : undefined;
    throw fail(`workerd cannot load it: ${reason}${syntax ? `. esbuild: ${formatSyntaxLocation(syntax)}` : ""}`, syntax ? { syntaxError: syntax } : {});
  }
  try {
    const base = `http://127.0.0.1:${scratch.port}/${service}/${version}/`;
    let res: Response;
    try {
      res = await fetch(`${base}discover`, { headers: { accept: DISCOVER_ACCEPT, ...deps.signRequest?.("/discover") }, signal: AbortSignal.timeout(deps.timeoutMs ?? 15_000) });
    } catch (err) {
      throw fail(`/discover did not answer (${(err as Error).message}); workerd said: ${lastLines(scratch.stderr())}`);
    }
    const body = await res.text();
    if (res.status === 401 && body.startsWith("gridiron: unauthorized")) {
      // Our own router refusing our own signature: a configuration fault, not the bundle's.
      throw new GridironError("REQUEST_IDENTITY_REJECTED", `the scratch workerd refused Gridiron's signed /discover (${body.trim()})`, { service, version });
    }
    if (res.status !== 200) {
      throw fail(`/discover answered ${res.status}: ${body.slice(0, 300) || lastLines(scratch.stderr())}. Is the default export a Restate endpoint (createEndpointHandler)?`);
    }
    let services: string[];
    const handlers = new Map<string, string[]>();
    try {
      const manifest = (JSON.parse(body) as { services?: { name: string; handlers?: { name: string }[] }[] }).services ?? [];
      services = manifest.map((s) => s.name);
      for (const s of manifest) handlers.set(s.name, (s.handlers ?? []).map((h) => h.name));
    } catch {
      throw fail(`/discover answered something that is not a Restate endpoint manifest: ${body.slice(0, 200)}`);
    }
    if (services.length === 0) throw fail("/discover lists no services; bind at least one service in createEndpointHandler");
    if (deps.restateDryRun === false) return { restateServices: services, handlers, ms: Math.round(performance.now() - started) };
    try {
      await deps.admin.register({ uri: base, dryRun: true, breaking: v.spec.breaking, force: false });
    } catch (err) {
      const e = asGridironError(err);
      // Restate passes our router's 401 on (as a 500 of its own): its requests are not signed with our key.
      if (/gridiron: unauthorized/.test(e.message)) {
        throw new GridironError("REQUEST_IDENTITY_REJECTED",
          "workerd refused restate-server's discovery request: restate-server does not sign with this mesh's request identity key. " +
          "Gridiron configures the restate-server it starts; one started elsewhere needs request-identity-private-key-pem-file under [worker.invoker] pointing at <data>/identity/private.pem (or run with --request-identity=false)",
          { service, version, restate: e.context });
      }
      if (e.kind !== "stalled") throw e;
      const hint = v.spec.breaking ? "" : ' If the change is intended, set "breaking": true in gridiron.json.';
      throw fail(`Restate refuses it: ${e.message.replace(/^registering \S+: /, "")}.${hint}`, { restate: e.context });
    }
    return { restateServices: services, handlers, ms: Math.round(performance.now() - started) };
  } finally {
    await scratch.stop();
    await rm(configPath, { force: true });
  }
}

function lastLines(text: string, n = 4): string {
  return text.trim().split("\n").slice(-n).join(" | ") || "(nothing)";
}

/**
 * workerd's complaint about a version it cannot load, one line per complaint. A complaint that
 * workerd follows with a stack (an exception at import, V8's syntax error position) gets where it
 * happened, its first frame mapped through the bundle's source map: `(at src/index.ts:3:9)`.
 */
function workerdReason(err: GridironError, sourceMaps: SourceMapLookup): string {
  const stderr = typeof err.context.stderr === "string" ? err.context.stderr : "";
  // Keep workerd's own complaint (e.g. "Uncaught SyntaxError: …", a compatibility date it does not
  // know); drop what the code logs at start-up and workerd's advisory warnings.
  const all = stderr.split("\n");
  const kept = all.map((l, i) => ({ l, i })).filter(({ l }) => l.trim() && !l.includes("[restate]") && !/does not need to be specified/.test(l));
  const telling = kept.filter(({ l }) => /error|exception|uncaught|failed|invalid|compatibility|not /i.test(l));
  const where = (i: number) => {
    const frame = frameLocations(all[i + 1] ?? "")[0];
    if (!frame || !/^\s+at\s/.test(all[i + 1] ?? "")) return "";
    const mapped = frameLocations(mapStack(`    at ${frame.file}:${frame.line}:${frame.column}`, sourceMaps))[0]!;
    return ` (at ${mapped.file}:${mapped.line}:${mapped.column})`;
  };
  return (telling.length ? telling.slice(-3) : kept.slice(-3)).map(({ l, i }) => l + where(i)).join(" | ") || err.message;
}

const decoder = new TextDecoder("utf-8", { fatal: false });

/** esbuild's view of the version's syntax error: the module, line and column (main module first). */
function syntaxErrorOf(v: ServedVersion): Promise<SyntaxLocation | undefined> {
  return firstSyntaxError(v.spec.modules.map((m) => ({ name: m.name, type: m.type, text: () => decoder.decode(v.files.get(m.name) ?? new Uint8Array()) })));
}
