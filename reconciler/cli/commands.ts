// The `gridiron logs` and `gridiron call` commands: they read the mesh's log file and call
// Restate's ingress directly, without the reconciler's API.
import { open, readFile } from "node:fs/promises";
import pinoPretty from "pino-pretty";
import { callableUrl } from "../core/address.ts";
import { MeshDownError, UsageError } from "./errors.ts";
import { print } from "./output.ts";
import { logFile } from "../node/log.ts";
import type { Options } from "../node/options.ts";

type LogLine = Record<string, unknown>;

/**
 * Whether a log line is about `service`: its `service` field, a `<service>/<version>` or
 * `/<service>/` in any text of it (actions, deployment URIs, messages), `bundle "<service>"`, or one
 * of the Restate services the bundle provides (`Greeter/…`, `"Greeter"`) — which is how
 * restate-server's and workerd's own lines are matched.
 */
function isAbout(line: LogLine, service: string, restateNames: ReadonlySet<string>): boolean {
  if (line.service === service) return true;
  const needles = [`${service}/`, `"${service}"`];
  for (const rs of restateNames) needles.push(`${rs}/`, `"${rs}"`, `'${rs}'`, ` ${rs} `);
  const text = (v: unknown, depth: number): boolean => {
    if (typeof v === "string") return v === service || restateNames.has(v) || needles.some((n) => (n === `${service}/` ? v.startsWith(n) || v.includes(` ${n}`) || v.includes(`/${n}`) : v.includes(n)));
    if (depth > 3 || v === null || typeof v !== "object") return false;
    return Object.values(v).some((x) => text(x, depth + 1));
  };
  return Object.entries(line).some(([k, v]) => k !== "time" && k !== "level" && text(v, 0));
}

function parseLogLines(text: string): { raw: string; entry?: LogLine }[] {
  return text.split("\n").filter((l) => l.trim()).map((raw) => {
    try {
      const entry = JSON.parse(raw) as unknown;
      return { raw, entry: entry !== null && typeof entry === "object" ? (entry as LogLine) : undefined };
    } catch {
      return { raw };
    }
  });
}

/** `gridiron logs [<service>] [--follow]`: reads the daemon's log file; needs no running mesh. */
export async function logs(o: Readonly<Options>, v: Record<string, string | boolean | undefined>, args: string[]): Promise<number> {
  const [service, extra] = args;
  if (extra !== undefined) throw new UsageError("name at most one service, e.g. gridiron logs greeter");
  const limit = v.lines === undefined ? Infinity : Number(v.lines);
  if (limit !== Infinity && (!Number.isInteger(limit) || limit < 0)) throw new UsageError(`--lines: expected a whole number, got ${JSON.stringify(v.lines)}`);
  const file = logFile(o.dataDir);
  const current = await readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") throw new Error(`no log at ${file}: has a mesh run with --data-dir ${o.dataDir}? Pass the same --data-dir (or GRIDIRON_DATA_DIR) it was started with.`);
    throw err;
  });
  const older = await readFile(`${file}.1`, "utf8").catch(() => "");
  const restateNames = new Set<string>();
  const learn = (entry: LogLine | undefined) => {
    if (service && entry?.service === service && Array.isArray(entry.restateServices)) for (const rs of entry.restateServices) if (typeof rs === "string") restateNames.add(rs);
  };
  const lines = parseLogLines(older + current);
  for (const l of lines) learn(l.entry);
  const wanted = (l: { raw: string; entry?: LogLine }) => !service || (l.entry ? isAbout(l.entry, service, restateNames) : l.raw.includes(service));
  const pretty = pinoPretty.prettyFactory({ colorize: process.stdout.isTTY === true, translateTime: "SYS:yyyy-mm-dd HH:MM:ss.l", ignore: "pid,hostname,name", singleLine: true });
  // A worker's error carries its whole stack in one event: printed below its line, as a stack reads.
  const prettyWithStack = (entry: LogLine) => {
    const { stack, ...rest } = entry;
    if (typeof stack !== "string") return pretty(entry);
    const lines = stack.split("\n").map((s) => `${/^\s+at\s/.test(s) ? "      " : "    "}${s.trim()}`);
    return `${pretty(rest).replace(/\n$/, "")}\n${lines.join("\n")}\n`;
  };
  const show = (l: { raw: string; entry?: LogLine }) => process.stdout.write(v.json || !l.entry ? `${l.raw}\n` : prettyWithStack(l.entry));
  const matching = lines.filter(wanted);
  for (const l of matching.slice(Math.max(0, matching.length - limit))) show(l);
  if (!v.follow) return 0;

  // Follow: poll the file; a new file (rotated) or one that shrank (truncated) is read from the start.
  let offset = Buffer.byteLength(current);
  let inode = await open(file, "r").then(async (fh) => (await fh.stat().finally(() => fh.close())).ino, () => 0);
  let partial = "";
  let stop: () => void = () => {};
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => stop());
  while (!(await Promise.race([stopped.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 250))]))) {
    const size = await open(file, "r").then(async (fh) => {
      try {
        const { size, ino } = await fh.stat();
        if (ino !== inode || size < offset) [offset, inode, partial] = [0, ino, ""];
        if (size === offset) return size;
        const buf = Buffer.alloc(size - offset);
        await fh.read(buf, 0, buf.length, offset);
        offset = size;
        const text = partial + buf.toString("utf8");
        const cut = text.lastIndexOf("\n") + 1;
        partial = text.slice(cut);
        for (const l of parseLogLines(text.slice(0, cut))) {
          learn(l.entry);
          if (wanted(l)) show(l);
        }
        return size;
      } finally {
        await fh.close();
      }
    }, () => undefined);
    if (size === undefined) offset = 0; // rotated away and not recreated yet
  }
  return 0;
}

function ingressUrl(o: Readonly<Options>): string {
  if (process.env.GRIDIRON_INGRESS_URL) return process.env.GRIDIRON_INGRESS_URL.replace(/\/+$/, "");
  return callableUrl(o.host, o.ingressPort);
}

/** Restate's type of a service (Service, VirtualObject, Workflow), or undefined if the admin API does not say. */
async function restateServiceType(o: Readonly<Options>, name: string): Promise<string | undefined> {
  try {
    const res = await fetch(`${callableUrl(o.host, o.adminPort)}/services/${encodeURIComponent(name)}`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) return undefined;
    const body = (await res.json()) as { ty?: unknown };
    return typeof body.ty === "string" ? body.ty : undefined;
  } catch {
    return undefined;
  }
}

function parseJsonArg(text: string): string {
  try {
    JSON.parse(text);
    return text;
  } catch {
    throw new UsageError(`the body must be JSON, got ${JSON.stringify(text)} (a string needs its quotes: '"${text}"')`);
  }
}

/** `gridiron call <Service>/<handler> [<key>] [<json>]`: POST through Restate's ingress. */
export async function call(o: Readonly<Options>, v: Record<string, string | boolean | undefined>, args: string[]): Promise<number> {
  const [target, ...rest] = args;
  const parts = target?.split("/") ?? [];
  // In <Object>/<key>/<handler> the key is everything between the first and the last slash.
  const middle = parts.slice(1, -1).join("/");
  if (!target || parts.length < 2 || parts[0] === "" || parts.at(-1) === "" || (parts.length > 2 && middle === "")) {
    throw new UsageError("name the handler as <Service>/<handler> or <Object>/<key>/<handler>, e.g. gridiron call Greeter/greet");
  }
  const service = parts[0]!;
  const handler = parts[parts.length - 1]!;
  let key = parts.length > 2 ? middle : undefined;
  let body: string | undefined;
  // --string <text>: the body is that text as a JSON string, so no shell quoting of JSON is needed.
  const stringBody = typeof v.string === "string" ? JSON.stringify(v.string) : undefined;
  if (parts.length > 2) {
    if (rest.length > (stringBody === undefined ? 1 : 0)) throw new UsageError(`too many arguments: ${target} takes at most a JSON body (or --string)`);
    body = rest[0];
  } else if (stringBody !== undefined) {
    if (rest.length > 1) throw new UsageError("too many arguments: gridiron call <Service>/<handler> [<key>] --string <text>");
    key = rest[0];
  } else if (rest.length === 2) {
    [key, body] = rest;
  } else if (rest.length === 1) {
    // One argument: a key for a virtual object or workflow, a body for a plain service.
    const ty = await restateServiceType(o, service);
    if (ty === "VirtualObject" || ty === "Workflow") key = rest[0];
    else if (ty !== undefined) body = rest[0];
    else {
      try {
        JSON.parse(rest[0]!);
        body = rest[0];
      } catch {
        key = rest[0];
      }
    }
  } else if (rest.length > 2) {
    throw new UsageError("too many arguments: gridiron call <Service>/<handler> [<key>] [<json>]");
  }
  if (body !== undefined) parseJsonArg(body);
  body ??= stringBody;
  const base = ingressUrl(o);
  const url = `${base}/${[service, key, handler].filter((p) => p !== undefined).map((p) => encodeURIComponent(p!)).join("/")}${v.send ? "/send" : ""}`;
  const headers: Record<string, string> = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (typeof v["idempotency-key"] === "string") headers["idempotency-key"] = v["idempotency-key"];
  let res: Response;
  try {
    res = await fetch(url, { method: "POST", headers, body });
  } catch (err) {
    throw new MeshDownError(`no Restate ingress answers at ${base} (${(err as Error).cause ?? (err as Error).message}). Start the mesh with 'npm start' or 'gridiron up', or set --ingress-port / GRIDIRON_INGRESS_URL.`);
  }
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text === "" ? null : JSON.parse(text);
  } catch {
    /* not JSON: keep the text */
  }
  if (v.json) print({ status: res.status, ok: res.ok, url, body: parsed, ...(res.headers.get("x-restate-id") ? { invocationId: res.headers.get("x-restate-id") } : {}) });
  else if (res.ok) console.log(text);
  else {
    const hint = res.status === 404 ? ` Is a bundle providing ${service} serving? Check 'gridiron status'.` : "";
    console.error(`gridiron call: POST ${url} answered ${res.status}: ${text.trim()}${hint}`);
  }
  return res.ok ? 0 : 1;
}
