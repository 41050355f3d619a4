// The `gridiron` command. Thin: maps arguments to options and calls into the library. The only
// module that touches process.exit codes and signals.
import { spawn } from "node:child_process";
import { mkdirSync, renameSync, statSync } from "node:fs";
import { open, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { pino, type Logger } from "pino";
import pinoPretty from "pino-pretty";
import { findApiToken } from "./auth.ts";
import { startMesh } from "./mesh.ts";
import { OPTION_SPECS, apiUrl, resolveOptions, type Options } from "./options.ts";
import type { PlanReport } from "./reconciler.ts";
import type { ReconcileResult, Status } from "./status.ts";
import { bindListeningSocket } from "./workerd/listen-socket.ts";

const BIN = fileURLToPath(new URL("../bin/gridiron.js", import.meta.url));

interface Command {
  summary: string;
  usage: string;
  flags: string[];
  /** Accepts positional arguments (service, version). */
  positionals?: boolean;
  run(o: Readonly<Options>, values: Record<string, string | boolean | undefined>, args: string[]): Promise<number>;
}

/** A mistake in how the command was called: exit code 2 and the command's help. */
class UsageError extends Error {}
/** Nothing answers where the mesh should be: exit code 3, so scripts can tell "down" from "failed". */
class MeshDownError extends Error {}

const EXIT_CODES = "Exit codes: 0 ok, 1 failed (an HTTP error, a service with an error, a failed pass), 2 wrong usage, 3 the mesh is not running (nothing answers).";
/** The daemon's JSON log, beside what it prints (so `gridiron logs` works after the fact). */
export const logFile = (dataDir: string): string => join(dataDir, "logs", "gridiron.log");
const LOG_FILE_MAX_BYTES = 32 * 1024 * 1024;

const MESH_FLAGS = OPTION_SPECS.filter((s) => !s.envOnly).map((s) => s.flag);
const BOOLEAN_FLAGS = new Set(["json", "build-demo", "breaking", "follow", "send"]);
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
      if (v.json) print(body);
      else if (body.error) console.error(`gridiron rollback: ${body.error.message}`);
      else printResult(body);
      return status === 200 ? 0 : 1;
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
  logs: {
    summary: "print the mesh's log lines (from <data-dir>/logs/gridiron.log), or only those about one service",
    usage: "gridiron logs [<service>] [--follow] [--lines <n>] [--json] [--data-dir <dir>]",
    flags: ["data-dir", "follow", "lines", "json"],
    positionals: true,
    run: logs,
  },
  call: {
    summary: "call a handler through Restate's ingress and print the answer",
    usage: "gridiron call <Service>/<handler> [<key>] [<json>] [--send] [--idempotency-key <k>] [--json]\n       gridiron call <Object>/<key>/<handler> [<json>] ...\n\n  gridiron call Greeter/greet                      no body\n  gridiron call Greeter/greet '\"Ana\"'              a JSON body (a string needs its quotes)\n  gridiron call Counter/add demo 5                 virtual object Counter, key demo, body 5",
    flags: ["host", "ingress-port", "admin-port", "json", "send", "idempotency-key"],
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
  const list = Object.entries(COMMANDS).filter(([n]) => !n.startsWith("_")).map(([n, c]) => `  ${n.padEnd(10)} ${c.summary}`);
  return `gridiron: durable Restate services in workerd, reconciled from a bundles folder or a git branch\n\nUsage: gridiron <command> [options]\n\nCommands:\n${list.join("\n")}\n\nRun 'gridiron <command> --help' for its options.\n${EXIT_CODES}`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
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

/**
 * Binds workerd's public socket here, hands it to the daemon as fd 3 and closes our copy: a Node
 * server that kept it open would accept (and stall) connections meant for workerd.
 */
async function up(o: Readonly<Options>, v: Record<string, string | boolean | undefined>): Promise<number> {
  if (v["build-demo"]) {
    const { main: build } = await import("../scripts/build-service.ts");
    const code = await build(["--all", "--if-missing", "--out", o.bundlesDir]);
    if (code !== 0) return code;
  }
  let socket;
  try {
    socket = await bindListeningSocket(o.host, o.workerdPort);
  } catch (err) {
    console.error(`gridiron up: cannot listen on ${o.host}:${o.workerdPort} for workerd (${(err as Error).message}). Is another mesh running? Stop it or pick --workerd-port.`);
    return 1;
  }
  // The real port (the flag may say 0) goes last, so it wins over an earlier --workerd-port.
  const args = [BIN, "__daemon", ...process.argv.slice(3).filter((a) => a !== "--build-demo"), "--workerd-port", String(socket.port)];
  // The daemon leads its own process group, and restate-server and workerd join it. Ctrl-C reaches
  // only this launcher, which asks the daemon to stop them in order; if the daemon dies hard, the
  // group is killed so no server outlives it.
  const child = spawn(process.execPath, args, { stdio: ["inherit", "inherit", "inherit", socket.fd], detached: true });
  // Listen for the exit before anything else is awaited, so an early death is never missed.
  const exited = new Promise<number>((resolve) => {
    child.on("exit", (code, signal) => {
      // Only after an abnormal exit: after a clean one the group is empty, and its number could
      // already belong to someone else's new process group.
      if (signal || code !== 0) {
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch {
          /* group already empty */
        }
      }
      if (signal) console.error(`gridiron up: the daemon was killed by ${signal}; its servers were stopped`);
      resolve(code ?? 1);
    });
  });
  await socket.close();
  const forward = () => child.kill("SIGTERM");
  process.on("SIGINT", forward);
  process.on("SIGTERM", forward);
  process.on("SIGHUP", forward);
  // If whoever started us is gone (npm killed without passing the signal on), stop the mesh too.
  const parent = process.ppid;
  const orphanCheck = setInterval(() => process.ppid !== parent && forward(), 1000);
  orphanCheck.unref();
  return exited;
}

/**
 * The daemon's logger: what createLogger() prints (JSON, or pretty in a terminal), and the same
 * lines as JSON in <data-dir>/logs/gridiron.log, written synchronously so the lines before a crash
 * are there. Past LOG_FILE_MAX_BYTES the file is renamed to gridiron.log.1 (checked at start and
 * every minute) and a new one begun.
 */
function daemonLogger(o: Readonly<Options>): { logger: Logger; close(): void } {
  const file = logFile(o.dataDir);
  mkdirSync(dirname(file), { recursive: true });
  const rotate = () => {
    try {
      if (statSync(file).size < LOG_FILE_MAX_BYTES) return false;
      renameSync(file, `${file}.1`);
      return true;
    } catch {
      return false;
    }
  };
  rotate();
  const toFile = pino.destination({ dest: file, sync: true, mkdir: true });
  const toOut = o.logFormat === "pretty"
    ? pinoPretty({ colorize: true, translateTime: "HH:MM:ss.l", ignore: "pid,hostname,name", sync: true })
    : pino.destination({ dest: 1, sync: true });
  const level = o.logLevel;
  const logger = pino({ name: "gridiron", level, base: {} }, pino.multistream([{ level, stream: toOut }, { level, stream: toFile }]));
  const timer = setInterval(() => rotate() && toFile.reopen(), 60_000);
  timer.unref();
  return { logger, close: () => clearInterval(timer) };
}

async function daemon(o: Readonly<Options>): Promise<number> {
  // Secrets are in `o` now; restate-server, workerd and git must not inherit them.
  for (const spec of OPTION_SPECS) if (spec.envOnly) delete process.env[spec.env];
  const { logger, close: closeLog } = daemonLogger(o);
  let stopRequested: string | undefined;
  let wake: () => void = () => {};
  const stopSignal = new Promise<void>((resolve) => (wake = resolve));
  const request = (why: string) => {
    if (stopRequested) return;
    stopRequested = why;
    wake();
  };
  // Handlers go in before anything starts, so a signal during start-up still stops cleanly.
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, () => request(sig));
  // If the launcher is gone (killed hard), nobody would ever stop us: notice and stop.
  const parent = process.ppid;
  const orphanCheck = setInterval(() => process.ppid !== parent && request("launcher exited"), 1000);
  orphanCheck.unref();

  let mesh;
  try {
    mesh = await startMesh(o, logger, 3);
  } catch (err) {
    logger.fatal({ err }, "gridiron could not start");
    await new Promise((r) => logger.flush(() => r(undefined)));
    return 1;
  }
  await stopSignal;
  logger.info({ reason: stopRequested }, "stopping: workerd, restate-server and the reconciler");
  await mesh.close();
  logger.info("stopped");
  await new Promise((r) => logger.flush(() => r(undefined)));
  clearInterval(orphanCheck);
  closeLog();
  // Everything we own has stopped; a stray handle (a library's timer) must not keep a daemon
  // without servers alive, holding the launcher and whoever waits on it.
  process.exit(0);
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

function print(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

function printResult(r: ReconcileResult): void {
  console.log(`reconcile #${r.id} (${r.trigger}): ${r.outcome} in ${r.durationMs} ms${r.revision ? ` at ${r.revision}` : ""}`);
  for (const a of r.actions) console.log(`  ${a.type.padEnd(9)} ${a.service}/${a.version}`);
  for (const d of r.deployed) console.log(`  now serving ${d.service}/${d.version}`);
  for (const e of r.errors) console.log(`  error ${e.code}: ${e.message}`);
  if (r.actions.length === 0 && r.errors.length === 0) console.log("  nothing to do: the mesh matches the bundles");
}

function printPlan(p: PlanReport): void {
  console.log(`plan at ${p.revision}${p.plan.swap ? " (workerd config changes)" : ""}:`);
  if (p.plan.actions.length === 0 && p.invalid.length === 0) console.log("  nothing to do");
  for (const a of p.plan.actions) {
    const detail = a.type === "drain" ? `  ${a.blocking > 0 ? `${a.blocking} invocation(s) still need it` : "drained, in grace period"}${a.stuck ? " (stuck)" : ""}` : "";
    console.log(`  ${a.type.padEnd(9)} ${a.service}/${a.version}${detail}`);
  }
  for (const c of p.checks) {
    console.log(c.ok ? `  check     ${c.service}/${c.version}: loads, discovers [${c.restateServices?.join(", ")}], Restate accepts it (dry run)` : `  REFUSED   ${c.service}/${c.version}: ${c.message}`);
  }
  for (const i of p.invalid) console.log(`  invalid   ${i.service}: ${i.message}`);
}

function printStatus(s: Status): void {
  console.log(`source   ${s.source.kind} ${s.source.location}${s.source.revision && s.source.revision !== `folder:${s.source.location}` ? ` @ ${s.source.revision}` : ""}${s.source.error ? `\n         ERROR: ${s.source.error}` : ""}`);
  console.log(`restate  ingress ${s.restate.ingressUrl}  admin ${s.restate.adminUrl}`);
  console.log(`workerd  ${s.workerd.url}  pid ${s.workerd.pid ?? "-"}  generation ${s.workerd.generation}`);
  if (s.lastReconcile) {
    const r = s.lastReconcile;
    console.log(`last     reconcile #${r.id} ${r.outcome} in ${r.durationMs} ms at ${r.startedAt} (${r.trigger})`);
  }
  console.log("");
  if (s.services.length === 0) console.log("no services yet: put a bundle into the bundles folder (just deploy-demo)");
  for (const svc of s.services) {
    const flags = svc.conditions.filter((c) => c.status).map((c) => c.type).join(",") || "-";
    console.log(`${svc.service}  [${flags}]${svc.serving ? `  serving ${svc.serving}` : ""}${svc.pinned ? `  (rollback pin: ${svc.pinned})` : ""}`);
    for (const v of svc.versions) {
      const extra = v.restateServices?.length ? `  [${v.restateServices.join(", ")}]` : "";
      console.log(`  ${v.state.padEnd(10)} ${v.version}${extra}${v.reason ? `  ${v.reason}` : ""}`);
    }
    if (svc.error) console.log(`  ERROR since ${svc.error.since}: ${svc.error.message}`);
  }
  if (s.history.length > 1) {
    console.log("\nrecent reconciles:");
    for (const r of s.history) {
      const what = r.deployed.length ? ` deployed ${r.deployed.map((d) => `${d.service}/${d.version}`).join(", ")}` : r.actions.length ? ` ${r.actions.length} action(s)` : "";
      console.log(`  #${String(r.id).padEnd(4)} ${r.startedAt}  ${r.outcome.padEnd(7)} ${String(r.durationMs).padStart(5)} ms  ${r.trigger}${what}${r.errors.length ? `  (${r.errors.length} error(s))` : ""}`);
    }
  }
}

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
async function logs(o: Readonly<Options>, v: Record<string, string | boolean | undefined>, args: string[]): Promise<number> {
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
  const show = (l: { raw: string; entry?: LogLine }) => process.stdout.write(v.json || !l.entry ? `${l.raw}\n` : pretty(l.entry));
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
  const host = o.host === "0.0.0.0" ? "127.0.0.1" : o.host;
  return `http://${host}:${o.ingressPort}`;
}

/** Restate's type of a service (Service, VirtualObject, Workflow), or undefined if the admin API does not say. */
async function restateServiceType(o: Readonly<Options>, name: string): Promise<string | undefined> {
  const host = o.host === "0.0.0.0" ? "127.0.0.1" : o.host;
  try {
    const res = await fetch(`http://${host}:${o.adminPort}/services/${encodeURIComponent(name)}`, { signal: AbortSignal.timeout(5000) });
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
async function call(o: Readonly<Options>, v: Record<string, string | boolean | undefined>, args: string[]): Promise<number> {
  const [target, ...rest] = args;
  const parts = target?.split("/") ?? [];
  if (!target || parts.length < 2 || parts.length > 3 || parts.some((p) => p === "")) {
    throw new UsageError("name the handler as <Service>/<handler> or <Object>/<key>/<handler>, e.g. gridiron call Greeter/greet");
  }
  const service = parts[0]!;
  const handler = parts[parts.length - 1]!;
  let key = parts.length === 3 ? parts[1] : undefined;
  let body: string | undefined;
  if (parts.length === 3) {
    if (rest.length > 1) throw new UsageError(`too many arguments: ${target} takes at most a JSON body`);
    body = rest[0];
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
