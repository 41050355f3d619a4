// The `gridiron` command. Thin: maps arguments to options and calls into the library. The only
// module that touches process.exit codes and signals.
import { parseArgs, type ParseArgsConfig } from "node:util";
import { findApiToken } from "../api/auth.ts";
import { call } from "./call.ts";
import { logs } from "./commands.ts";
import { MeshDownError, UsageError } from "./errors.ts";
import { invocationsText, type InvocationsReport } from "./invocations-output.ts";
import { isInvocationId } from "../restate/trouble.ts";
import { print, printPlan, printResult, printStatus } from "./output.ts";
import { OPTION_SPECS, apiUrl, resolveOptions, type Options } from "../node/options.ts";
import type { PlanReport } from "../reconcile/status.ts";
import type { ReconcileResult, RolloutStatus, Status } from "../reconcile/status.ts";
import { rolloutLines } from "./rollout-output.ts";
import { daemon, up } from "./up.ts";
import { resume, suspend } from "./suspend.ts";


interface Command {
  summary: string;
  usage: string;
  flags: string[];
  /** Accepts positional arguments (service, version). */
  positionals?: boolean;
  run(o: Readonly<Options>, values: Record<string, string | boolean | undefined>, args: string[]): Promise<number>;
}


const EXIT_CODES = "Exit codes: 0 ok, 1 failed (an HTTP error, a service with an error, a failed pass), 2 wrong usage, 3 the mesh is not running (nothing answers).";
/** The daemon's JSON log, beside what it prints (so `gridiron logs` works after the fact). */

const MESH_FLAGS = OPTION_SPECS.filter((s) => !s.envOnly).map((s) => s.flag);
const BOOLEAN_FLAGS = new Set(["json", "build-demo", "breaking", "follow", "send", "ids"]);
const CLIENT_FLAGS = ["host", "api-port", "data-dir", "json"];

const COMMANDS: Record<string, Command> = {
  up: {
    summary: "start restate-server, workerd and the reconciler in the foreground (Ctrl-C stops all)",
    usage: "gridiron up [--build-demo] [--git <url> [--branch main] [--path bundles]] [options]",
    flags: [...MESH_FLAGS, "build-demo"],
    run: up,
  },
  reconcile: {
    summary: "run one reconcile pass on the running mesh and print what it did",
    usage: "gridiron reconcile [--json]",
    flags: CLIENT_FLAGS,
    async run(o, v) {
      const { status, body } = await callApi<ReconcileResult>(o, "POST", "/reconcile");
      if (v.json) print(body);
      else printResult(body);
      return status === 200 && body.errors.length === 0 ? 0 : 1;
    },
  },
  plan: {
    summary: "print what a reconcile pass would do now, changing nothing",
    usage: "gridiron plan [--json]",
    flags: CLIENT_FLAGS,
    async run(o, v) {
      const { body } = await callApi<PlanReport>(o, "GET", "/plan");
      if (v.json) print(body);
      else printPlan(body);
      return 0;
    },
  },
  status: {
    summary: "show services, their versions and the last reconcile",
    usage: "gridiron status [--json]",
    flags: CLIENT_FLAGS,
    async run(o, v) {
      const { body } = await callApi<Status>(o, "GET", "/status");
      if (v.json) print(body);
      else printStatus(body);
      return body.services.some((s) => s.error) ? 1 : 0;
    },
  },
  rollback: {
    summary: "serve an older stored version of a service again, now (until the source changes it)",
    usage: "gridiron rollback <service> [<version>] [--breaking] [--json]",
    flags: [...CLIENT_FLAGS, "breaking"],
    positionals: true,
    async run(o, v, args) {
      const [service, version] = args;
      if (!service) throw new UsageError("name the service to roll back, e.g. gridiron rollback greeter");
      const { status, body } = await callApi<ReconcileResult & { error?: { message: string } }>(o, "POST", "/rollback", { service, version, breaking: v.breaking === true });
      return commandOutcome(status, body, v.json === true, "gridiron rollback");
    },
  },
  rollout: {
    summary: "show a service's progressive rollout, or promote or abort it now",
    usage: "gridiron rollout status|promote|abort <service> [--json]",
    flags: CLIENT_FLAGS,
    positionals: true,
    async run(o, v, args) {
      const [action, service] = args;
      if (!service || (action !== "status" && action !== "promote" && action !== "abort")) throw new UsageError("usage: gridiron rollout status|promote|abort <service>");
      if (action === "status") {
        const { body } = await callApi<{ rollouts: Record<string, RolloutStatus> }>(o, "GET", "/rollout");
        const r = body.rollouts[service];
        if (v.json) print(r ?? null);
        else console.log(r ? `${service}\n${rolloutLines(r).join("\n")}` : `${service}: no rollout (a new version with a "rollout" policy in its gridiron.json starts one)`);
        return 0;
      }
      const { status, body } = await callApi<ReconcileResult & { error?: { message: string } }>(o, "POST", "/rollout", { service, action });
      return commandOutcome(status, body, v.json === true, `gridiron rollout ${action}`);
    },
  },
  move: {
    summary: "pause the invocations still pinned to a version and resume them on the latest one",
    usage: "gridiron move <service> <version> [--json]",
    flags: CLIENT_FLAGS,
    positionals: true,
    async run(o, v, args) {
      const [service, version] = args;
      if (!service || !version) throw new UsageError("usage: gridiron move <service> <version>");
      const { status, body } = await callApi<{ moved: string[]; failed: { id: string; error: string }[]; error?: { message: string } }>(o, "POST", "/move", { service, version });
      if (v.json) print(body);
      else if (body.error) console.error(`gridiron move: ${body.error.message}`);
      else {
        console.log(`moved ${body.moved.length} invocation(s) of ${service}/${version} to the latest deployment`);
        for (const f of body.failed) console.log(`  could not move ${f.id}: ${f.error}`);
      }
      return status === 200 && body.failed?.length === 0 ? 0 : 1;
    },
  },
  invocations: {
    summary: "list the invocations in trouble (retrying, paused, holding up a drain) with their errors and the command that ends each",
    usage: "gridiron invocations [<service>] [--ids] [--json]",
    flags: [...CLIENT_FLAGS, "ids"],
    positionals: true,
    async run(o, v, args) {
      const [service, extra] = args;
      if (extra !== undefined) throw new UsageError("name at most one service (a bundle or a Restate service), e.g. gridiron invocations faulty");
      const { body } = await callApi<InvocationsReport>(o, "GET", `/invocations${service ? `?service=${encodeURIComponent(service)}` : ""}`);
      if (v.json) print(body);
      else if (v.ids) for (const t of body.invocations) console.log(t.id);
      else console.log(invocationsText(body, Date.now(), service));
      return body.error ? 1 : 0;
    },
  },
  kill: {
    summary: "end invocations now (retrying ones too); Restate does not run the rest of their handlers",
    usage: "gridiron kill <invocation-id>... [--json]\n       gridiron kill $(gridiron invocations <service> --ids)     every invocation in trouble of a service",
    flags: CLIENT_FLAGS,
    positionals: true,
    async run(o, v, args) {
      if (args.length === 0) throw new UsageError("name the invocations to kill, e.g. gridiron kill inv_1dqFHZ4uRRdp4gFJHxCQQwrUwSARmYqH84 (ids are in 'gridiron invocations'; none there: nothing to kill)");
      let failed = 0;
      const bodies: unknown[] = [];
      for (const arg of args) {
        const id = invocationIdArg([arg], "kill");
        const { status, body } = await callApi<{ id: string; outcome: string; error?: { message: string; hint?: string } }>(o, "POST", "/invocations/kill", { id });
        if (status !== 200) failed++;
        bodies.push(body);
        if (v.json) continue;
        if (body.error) console.error(`gridiron kill: ${body.error.message}${body.error.hint ? `\n  hint: ${body.error.hint}` : ""}`);
        else console.log(body.outcome === "killed" ? `killed ${id}` : `${id} had already completed: nothing to kill`);
      }
      if (v.json) print(bodies.length === 1 ? bodies[0] : bodies);
      return failed === 0 ? 0 : 1;
    },
  },
  suspend: {
    summary: "stop changing a service (it keeps serving what it serves), or with no service the whole mesh, until resumed",
    usage: "gridiron suspend [<service>] [--reason <text>] [--json]",
    flags: [...CLIENT_FLAGS, "reason"],
    positionals: true,
    run: (o, v, args) => suspend(callApi, o, v, args),
  },
  resume: {
    summary: "resume a suspended service (or, with no service, the mesh) and apply what waited; or resume a paused invocation",
    usage: "gridiron resume [<service>] [--json]\n       gridiron resume <invocation-id> [--deployment latest|<deployment-id>] [--json]     (a backing-off invocation retries at once)",
    flags: [...CLIENT_FLAGS, "deployment"],
    positionals: true,
    async run(o, v, args) {
      if (args.length === 0 || (args.length === 1 && !args[0]!.startsWith("inv_"))) return resume(callApi, o, v, args);
      const id = invocationIdArg(args, "resume");
      const deployment = typeof v.deployment === "string" ? v.deployment : undefined;
      const { status, body } = await callApi<{ id: string; error?: { message: string; hint?: string } }>(o, "POST", "/invocations/resume", { id, deployment });
      if (v.json) print(body);
      else if (body.error) console.error(`gridiron resume: ${body.error.message}${body.error.hint ? `\n  hint: ${body.error.hint}` : ""}`);
      else console.log(`resumed ${id}${deployment ? ` on ${deployment === "latest" ? "the latest deployment" : deployment}` : ""}`);
      return status === 200 ? 0 : 1;
    },
  },
  logs: {
    summary: "print the mesh's log lines (from <data-dir>/logs/gridiron.log), or only those about one service",
    usage: "gridiron logs [<service>] [--follow] [--lines <n>] [--json] [--data-dir <dir>]",
    flags: ["data-dir", "follow", "lines", "json"],
    positionals: true,
    run: logs,
  },
  call: {
    summary: "call a handler through Restate's ingress and print the answer",
    usage: "gridiron call <Service>/<handler> [<key>] [<json> | --string <text>] [--send] [--idempotency-key <k>] [--timeout <s>] [--json]\n       gridiron call <Object>/<key>/<handler> [<json> | --string <text>] ...\n\nAn answer that is late because the handler fails is explained on stderr after a few seconds (the\ninvocation's id, attempt and error); the call keeps waiting, up to --timeout if given.\n\n  gridiron call Greeter/greet                      no body\n  gridiron call Greeter/greet '\"Ana\"'              a JSON body (a string needs its quotes)\n  gridiron call Greeter/greet --string Ana         the same body, without the quotes\n  gridiron call Counter/add demo 5                 virtual object Counter, key demo, body 5\n  gridiron call Files/put --content-type application/octet-stream 'raw bytes'",
    flags: ["host", "ingress-port", "admin-port", "json", "send", "idempotency-key", "string", "content-type", "timeout"],
    positionals: true,
    run: call,
  },
  // Internal: the long-lived process `up` starts with workerd's listening socket as fd 3.
  __daemon: { summary: "", usage: "", flags: MESH_FLAGS, run: daemon },
};

const FLAG_DOCS: Record<string, string> = {
  json: "print machine-readable JSON",
  "build-demo": "build the demo services into the bundles folder first if missing",
  breaking: "let Restate accept the rollback even if it removes handlers the newer version added",
  help: "show help",
  follow: "keep printing new lines as they are written (Ctrl-C stops)",
  lines: "print only the last <n> matching lines (with --follow: before following)",
  send: "do not wait for the result: Restate answers with the invocation id at once",
  "idempotency-key": "Restate's Idempotency-Key header: a repeated call with the same key gets the first call's result",
  string: "send <text> as the body, as a JSON string (instead of a <json> argument)",
  "content-type": "send the body argument as it is, with this content type (for handlers that take bytes or text, not JSON)",
  timeout: "stop waiting after <seconds> with exit code 1 (the invocation goes on; see gridiron invocations)",
  ids: "print only the invocation ids, one a line (for gridiron kill $(…))",
  deployment: "resume on this deployment: latest (the serving version's) or a deployment id; default: the one it is pinned to",
  reason: "why, shown in status beside when and by whom (user@host)",
};

function help(name?: string): string {
  if (name && COMMANDS[name]) {
    const c = COMMANDS[name]!;
    const lines = [`${c.usage}\n\n${c.summary}\n\nOptions:`];
    for (const flag of [...c.flags, "help"]) {
      const spec = OPTION_SPECS.find((s) => s.flag === flag);
      const doc = spec ? `${spec.doc} (env ${spec.env}, default ${spec.default({}) || "none"})` : FLAG_DOCS[flag] ?? "";
      lines.push(`  --${flag.padEnd(16)} ${doc}`);
    }
    const secrets = c.flags.includes("git") ? OPTION_SPECS.filter((s) => s.envOnly) : [];
    if (secrets.length) lines.push("\nSecrets (environment only, never flags):", ...secrets.map((s) => `  ${s.env.padEnd(24)} ${s.doc}`));
    lines.push("", EXIT_CODES);
    return lines.join("\n");
  }
  const list = Object.entries(COMMANDS).filter(([n]) => !n.startsWith("_")).map(([n, c]) => `  ${n.padEnd(11)} ${c.summary}`);
  return `gridiron: durable Restate services in workerd, reconciled from a bundles folder or a git branch\n\nUsage: gridiron <command> [options]\n\nCommands:\n${list.join("\n")}\n\nRun 'gridiron <command> --help' for its options.\n${EXIT_CODES}`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  // `gridiron status | head`: a reader that stops early is no error for a command that only prints.
  // (`up` keeps the default: its output is the mesh's log, and it must shut down in order.)
  if (name !== "up" && !name?.startsWith("_")) {
    process.stdout.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code !== "EPIPE") throw err;
      process.exit(typeof process.exitCode === "number" ? process.exitCode : 0);
    });
  }
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(help(rest[0]));
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`gridiron: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  const options: ParseArgsConfig["options"] = { help: { type: "boolean", short: "h" } };
  for (const flag of command.flags) options[flag] = { type: BOOLEAN_FLAGS.has(flag) ? "boolean" : "string" };
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    const parsed = parseArgs({ args: rest, options, allowPositionals: command.positionals === true });
    values = parsed.values as Record<string, string | boolean | undefined>;
    positionals = parsed.positionals;
  } catch (err) {
    console.error(`gridiron ${name}: ${(err as Error).message}\n\n${help(name)}`);
    return 2;
  }
  if (values.help) {
    console.log(help(name));
    return 0;
  }
  let o: Readonly<Options>;
  try {
    o = resolveOptions(values);
  } catch (err) {
    console.error(`gridiron ${name}: ${(err as Error).message}`);
    return 2;
  }
  try {
    return await command.run(o, values, positionals);
  } catch (err) {
    const code = err instanceof UsageError ? 2 : err instanceof MeshDownError ? 3 : 1;
    if (values.json) console.error(JSON.stringify({ error: { message: (err as Error).message, exitCode: code } }));
    else console.error(`gridiron ${name}: ${(err as Error).message}${code === 2 ? `\n\n${help(name)}` : ""}`);
    return code;
  }
}

function invocationIdArg(args: string[], command: string): string {
  const [id, extra] = args;
  if (!id || extra !== undefined) throw new UsageError(`name one invocation id, e.g. gridiron ${command} inv_1dqFHZ4uRRdp4gFJHxCQQwrUwSARmYqH84 (ids are in 'gridiron invocations')`);
  if (!isInvocationId(id)) throw new UsageError(`"${id}" is not an invocation id: they look like inv_1dqFHZ4uRRdp4gFJHxCQQwrUwSARmYqH84 (see 'gridiron invocations')`);
  return id;
}

async function callApi<T>(o: Readonly<Options>, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const url = `${process.env.GRIDIRON_API_URL ?? apiUrl(o)}${path}`;
  let res: Response;
  try {
    // Sent whenever one is found (GRIDIRON_API_TOKEN, else <data-dir>/api-token); required only
    // by an API started with --require-api-token or on a non-loopback host.
    const token = await findApiToken(o.dataDir);
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    res = await fetch(url, body === undefined ? { method, headers } : { method, headers: { ...headers, "content-type": "application/json" }, body: JSON.stringify(body) });
  } catch (err) {
    throw new MeshDownError(`no reconciler answers at ${url} (${(err as Error).cause ?? (err as Error).message}). Start the mesh with 'npm start' or 'gridiron up', or set --api-port / GRIDIRON_API_URL.`);
  }
  const text = await res.text();
  if (res.status === 401 && res.headers.get("www-authenticate")?.startsWith("Bearer")) {
    throw new Error(`${method} ${url}: the API wants its bearer token; set GRIDIRON_API_TOKEN or point --data-dir at the mesh's data dir (it holds api-token)`);
  }
  try {
    return { status: res.status, body: JSON.parse(text) as T };
  } catch {
    throw new Error(`${method} ${url} answered ${res.status}: ${text.slice(0, 300)}`);
  }
}

/**
 * Prints an operator command's answer (rollback, rollout): 200 done, 202 recorded with its pass to
 * be retried (exit 0 either way), anything else refused (exit 1).
 */
function commandOutcome(status: number, body: ReconcileResult & { error?: { message: string } }, json: boolean, what: string): number {
  if (json) print(body);
  else if (body.error) console.error(`${what}: ${body.error.message}`);
  else {
    printResult(body);
    if (status === 202) console.log("  recorded: the pass that carries it out failed for a passing reason and is retried; see gridiron status");
  }
  return status === 200 || status === 202 ? 0 : 1;
}
