// The `gridiron logs` command: it reads the mesh's log file, without the reconciler's API.
import { open, readFile } from "node:fs/promises";
import pinoPretty from "pino-pretty";
import { UsageError } from "./errors.ts";
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
