// Which lines of workerd's stdout and stderr reach Gridiron's log, and how they become events.
//
// workerd writes what a worker logs as it is: one console call or one uncaught error may span
// many lines (an error's stack, the Restate SDK's "[restate][…] WARN: …" line followed by the
// error it caught). Logged line by line, only the first line of such an error says what it is
// about. So lines are grouped into events: a line that starts with whitespace (a stack frame,
// the SDK's indented error) or only closes a bracket (the end of an inspected object) continues
// the event before it; anything else begins a new one. An event is then described once: its
// level, the Restate service, handler and invocation id the SDK's prefix names, and the Gridiron
// service and version its stack frames name (stack.ts: each module's sourceURL says which
// version it belongs to).
//
// Everything is forwarded as workerd wrote it, except a warning that is false where Gridiron
// serves and one that Gridiron's own settings cause at every start: a log full of warnings
// nobody can act on teaches operators to ignore the true ones.
import { frameLocations, parseModuleSourceUrl } from "./stack.ts";

/**
 * The Restate SDK's warning, written each time a bundle's endpoint is created (every load of every
 * version), that it accepts requests without checking their signatures. Gridiron's router
 * (router.js) checks every request's signature before it reaches a bundle, so while request
 * identity is on the warning is false; with --request-identity=false it is true and stays.
 * Matched on the SDK's console format, `[restate][<time>] WARN: <message>`, so a bundle that
 * merely mentions the text is not silenced.
 */
const SDK_UNSIGNED_WARNING = /^\[restate\]\[[^\]]*\] WARN: Accepting requests without validating request signatures\b/;

/**
 * workerd's warning, at every process start, that its built-in bootstrap code cache does not
 * match the V8 flags: ours (V8_FLAGS in build.ts) change V8's flag hash, on purpose, for memory
 * (docs/performance.md, Density). It is expected and says nothing an operator can act on;
 * cells.ts says once at start, at debug level, that the cache is off.
 */
const BOOTSTRAP_CACHE_WARNING = /^workerd\/\S+: warning: NOSENTRY per-isolate bootstrap compile cache failed its compatibility check\b/;

export interface OutputPolicy {
  /** The router verifies every request's Restate signature (request identity on). */
  routerVerifies: boolean;
}

/** Whether one line of workerd's output goes to the log. */
export function forwardLine(line: string, policy: OutputPolicy): boolean {
  if (BOOTSTRAP_CACHE_WARNING.test(line)) return false;
  return !(policy.routerVerifies && SDK_UNSIGNED_WARNING.test(line));
}

/** Whether `line` belongs to the event begun on an earlier line (see the top of this file). */
export function continuesEvent(line: string): boolean {
  return /^\s/.test(line) || /^[\]})]+[,;]?$/.test(line);
}

/** Lines grouped into events, in order; a continuation line with nothing before it begins one. */
export function groupLines(lines: readonly string[]): string[][] {
  const events: string[][] = [];
  for (const line of lines) {
    const last = events.at(-1);
    if (last && continuesEvent(line)) last.push(line);
    else events.push([line]);
  }
  return events;
}

export type EventLevel = "debug" | "info" | "warn" | "error";

/** One event of workerd's output, as the daemon logs it. */
export interface OutputEvent {
  level: EventLevel;
  /** The first line (without the SDK's prefix). */
  message: string;
  /** The lines after the first, as written (a stack, the error the SDK caught). */
  stack?: string;
  /** The Gridiron service and version the event's stack frames name. */
  service?: string;
  version?: string;
  /** What the Restate SDK's prefix names: `[restate][<time>][<service>/<key>/<handler>][<invocation id>]`. */
  restateService?: string;
  handler?: string;
  key?: string;
  invocationId?: string;
}

const SDK_PREFIX = /^\[restate\]\[[^\]]*\](?:\[([^\]]*)\]\[(inv_[A-Za-z0-9]+)\])?(?:\[[^\]]*\])*\s+(TRACE|DEBUG|INFO|WARN|ERROR):\s?/;
const SDK_LEVELS: Record<string, EventLevel> = { TRACE: "debug", DEBUG: "debug", INFO: "info", WARN: "warn", ERROR: "error" };
const FRAME = /^\s+at\s/;
/** workerd's own error lines: `workerd/…/file.c++:123: error: …`. */
const WORKERD_ERROR = /^workerd\/\S+: error: /;

/**
 * What one event says. `stream` sets the level when the text does not: stdout is info, stderr
 * warn; the SDK's prefix names its own level, and workerd's own `error:` lines are errors.
 */
export function describeEvent(lines: readonly string[], stream: "stdout" | "stderr"): OutputEvent {
  const [first = "", ...rest] = lines;
  const event: OutputEvent = { level: stream === "stdout" ? "info" : "warn", message: first };
  const sdk = SDK_PREFIX.exec(first);
  if (sdk) {
    event.message = first.slice(sdk[0].length);
    event.level = SDK_LEVELS[sdk[3]!]!;
    if (sdk[1] !== undefined) {
      const parts = sdk[1].split("/");
      event.restateService = parts[0];
      if (parts.length >= 2) event.handler = parts.at(-1);
      if (parts.length >= 3) event.key = parts.slice(1, -1).join("/");
    }
    if (sdk[2] !== undefined) event.invocationId = sdk[2];
  } else if (WORKERD_ERROR.test(first)) {
    event.level = "error";
  }
  if (rest.length > 0) {
    // The SDK writes the error it caught on the line after its own: `[restate]… WARN: Error when
    // processing…` then ` Error: <what was thrown>`. That line is what the event is about.
    const thrown = sdk && !FRAME.test(rest[0]!) ? rest[0]!.trim() : undefined;
    if (thrown) event.message = event.message ? `${event.message} ${thrown}` : thrown;
    event.stack = [...(thrown ? [thrown] : []), ...rest.slice(thrown ? 1 : 0)].join("\n");
  }
  // The first frame that names a Gridiron version is where the event comes from.
  for (const { file } of frameLocations(lines.join("\n"))) {
    const named = parseModuleSourceUrl(file);
    if (named) {
      event.service = named.service;
      event.version = named.version;
      break;
    }
  }
  if (event.invocationId === undefined) {
    const id = /\b(inv_[A-Za-z0-9]{20,})\b/.exec(lines.join("\n"))?.[1];
    if (id) event.invocationId = id;
  }
  return event;
}

/** How long a begun event waits for more lines before it is logged. */
export const EVENT_FLUSH_MS = 50;
/** An event longer than this is logged in pieces (a runaway log must not grow without bound). */
export const EVENT_MAX_LINES = 200;

/**
 * Groups one stream's lines as they arrive: an event is emitted when the next event begins, when
 * no line came for `flushMs`, when it reaches EVENT_MAX_LINES, or on close().
 */
export class EventBuffer {
  #lines: string[] = [];
  #timer: NodeJS.Timeout | undefined;
  readonly #emit: (lines: string[]) => void;
  readonly #flushMs: number;

  constructor(emit: (lines: string[]) => void, flushMs = EVENT_FLUSH_MS) {
    this.#emit = emit;
    this.#flushMs = flushMs;
  }

  push(line: string): void {
    if (this.#lines.length > 0 && !continuesEvent(line)) this.flush();
    this.#lines.push(line);
    if (this.#lines.length >= EVENT_MAX_LINES) {
      this.flush();
      return;
    }
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.flush(), this.#flushMs);
    this.#timer.unref();
  }

  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#lines.length === 0) return;
    const lines = this.#lines;
    this.#lines = [];
    this.#emit(lines);
  }

  close(): void {
    this.flush();
  }
}
