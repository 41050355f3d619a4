import { describe, expect, it } from "vitest";
import { describeEvent, EVENT_MAX_LINES, EventBuffer, forwardLine, groupLines } from "../../reconciler/workerd/output.ts";

// The line as workerd's stderr carries it when a bundle built from services/greeter loads.
const SDK_WARNING = "[restate][1970-01-01T00:00:00.000Z] WARN: Accepting requests without validating request signatures; handler access must be restricted";

describe("forwardLine", () => {
  const cases: { name: string; line: string; routerVerifies: boolean; forwarded: boolean }[] = [
    { name: "the SDK's warning, router verifies", line: SDK_WARNING, routerVerifies: true, forwarded: false },
    { name: "the SDK's warning, request identity off", line: SDK_WARNING, routerVerifies: false, forwarded: true },
    { name: "the warning at another time of day", line: SDK_WARNING.replace("1970-01-01T00:00:00.000Z", "2026-05-04T12:34:56.789Z"), routerVerifies: true, forwarded: false },
    { name: "another SDK warning", line: "[restate][1970-01-01T00:00:00.000Z] WARN: Error when trying to get invocation id: x", routerVerifies: true, forwarded: true },
    { name: "the SDK's INFO when it checks keys itself", line: "[restate][1970-01-01T00:00:00.000Z] INFO: Validating requests using signing keys [publickeyv1_x]", routerVerifies: true, forwarded: true },
    { name: "bundle code quoting the text", line: "user: Accepting requests without validating request signatures", routerVerifies: true, forwarded: true },
    { name: "the text at ERROR level", line: "[restate][1970-01-01T00:00:00.000Z] ERROR: Accepting requests without validating request signatures", routerVerifies: true, forwarded: true },
    { name: "a workerd error", line: "workerd/server/server.c++:4381: error: Uncaught SyntaxError: Unexpected token", routerVerifies: true, forwarded: true },
    { name: "an empty line", line: "", routerVerifies: true, forwarded: true },
    { name: "workerd's bootstrap cache warning (our V8 flags)", line: "workerd/api/per-isolate-bootstrap.c++:828: warning: NOSENTRY per-isolate bootstrap compile cache failed its compatibility check; scripts will be compiled from source; normalized = primordials; static_cast<int>(check) = 5", routerVerifies: false, forwarded: false },
    { name: "another workerd warning", line: "workerd/io/worker.c++:1234: warning: NOSENTRY something else", routerVerifies: true, forwarded: true },
  ];
  it.each(cases)("$name → forwarded: $forwarded", ({ line, routerVerifies, forwarded }) => {
    expect(forwardLine(line, { routerVerifies })).toBe(forwarded);
  });
});

// What workerd wrote (loader mode, request identity on) when a handler of test/fixtures/services/thrower
// threw and another console.error'd an Error: one line per write, as readline hands them over.
const SDK_CAUGHT = [
  "[restate][2026-12-03T08:26:20.019Z][Thrower/k2/boom][inv_10SHxgluLUdD2sUx5k2yvrl8qW0vCetLol] WARN: Error when processing a Restate context operation.",
  " Error: thrower exploded on k2",
  "    at explode (thrower/v-fb2c57b25609/index.js:4295:9)",
  "    at Object.boom (thrower/v-fb2c57b25609/index.js:4300:26)",
  "    at thrower/v-fb2c57b25609/index.js:3996:34",
  "    at async startUserHandler (thrower/v-fb2c57b25609/index.js:3994:3)",
];
const CONSOLE_ERROR = [
  "complaint about k1 Error: complaint with a stack",
  "    at Object.complain (thrower/v-fb2c57b25609/index.js:4302:49)",
  "    at async HeldOutput.respond (thrower/v-fb2c57b25609/index.js:4204:19)",
];
// A bundle that throws at import, as a scratch workerd reports it (static config, no sourceURL).
const LOAD_ERROR = ["service v/importthrow/v-0070f0b030d5: Uncaught Error: boom at import", "  at index.js:2:9 in f", "  at index.js:4:1"];

describe("groupLines", () => {
  const cases: { name: string; lines: string[]; events: number[] }[] = [
    { name: "an SDK error with its stack is one event", lines: SDK_CAUGHT, events: [SDK_CAUGHT.length] },
    { name: "console.error with an Error is one event", lines: CONSOLE_ERROR, events: [CONSOLE_ERROR.length] },
    { name: "two errors back to back stay two", lines: [...SDK_CAUGHT, ...CONSOLE_ERROR], events: [SDK_CAUGHT.length, CONSOLE_ERROR.length] },
    { name: "plain log lines are one event each", lines: ["plain log 1", "plain log 2"], events: [1, 1] },
    { name: "workerd's start-up trace (two-space frames) is one event", lines: LOAD_ERROR, events: [3] },
    { name: "an inspected object's closing brace stays with it", lines: ["{", "  a: 1,", "  b: 2", "}", "next"], events: [4, 1] },
    { name: "a continuation with nothing before it begins an event", lines: ["    at orphan (x.js:1:1)", "next"], events: [1, 1] },
    { name: "an empty line begins an event", lines: ["a", "", "b"], events: [1, 1, 1] },
  ];
  it.each(cases)("$name", ({ lines, events }) => {
    expect(groupLines(lines).map((e) => e.length)).toEqual(events);
  });
});

describe("describeEvent", () => {
  it("the SDK's caught error: its level, Restate target, invocation id, version and the thrown message", () => {
    expect(describeEvent(SDK_CAUGHT, "stderr")).toEqual({
      level: "warn",
      message: "Error when processing a Restate context operation. Error: thrower exploded on k2",
      stack: ["Error: thrower exploded on k2", ...SDK_CAUGHT.slice(2)].join("\n"),
      restateService: "Thrower",
      key: "k2",
      handler: "boom",
      invocationId: "inv_10SHxgluLUdD2sUx5k2yvrl8qW0vCetLol",
      service: "thrower",
      version: "v-fb2c57b25609",
    });
  });

  it("a console.error: the stream's level, the version from its frames", () => {
    expect(describeEvent(CONSOLE_ERROR, "stderr")).toEqual({
      level: "warn",
      message: CONSOLE_ERROR[0],
      stack: CONSOLE_ERROR.slice(1).join("\n"),
      service: "thrower",
      version: "v-fb2c57b25609",
    });
  });

  const cases: { name: string; lines: string[]; stream: "stdout" | "stderr"; expected: Partial<ReturnType<typeof describeEvent>> }[] = [
    { name: "a console.log line", lines: ["hello"], stream: "stdout", expected: { level: "info", message: "hello" } },
    { name: "an SDK line of a service (no key)", lines: ["[restate][t][Greeter/greet][inv_1abcdefghijklmnopqrstu] INFO: Invoking function."], stream: "stdout",
      expected: { level: "info", message: "Invoking function.", restateService: "Greeter", handler: "greet", invocationId: "inv_1abcdefghijklmnopqrstu" } },
    { name: "an SDK line outside an invocation", lines: ["[restate][t] WARN: something"], stream: "stderr", expected: { level: "warn", message: "something" } },
    { name: "an SDK ERROR", lines: ["[restate][t][A/k/h][inv_1abcdefghijklmnopqrstu] ERROR: bad"], stream: "stdout", expected: { level: "error", restateService: "A", key: "k", handler: "h" } },
    { name: "a key with a slash", lines: ["[restate][t][A/a/b/h][inv_1abcdefghijklmnopqrstu] WARN: x"], stream: "stderr", expected: { key: "a/b", handler: "h" } },
    { name: "workerd's own error line", lines: ["workerd/server/server.c++:372: error: Uncaught exception: boom"], stream: "stderr", expected: { level: "error" } },
    { name: "an invocation id in user text", lines: ["retrying inv_1abcdefghijklmnopqrstuvw now"], stream: "stdout", expected: { invocationId: "inv_1abcdefghijklmnopqrstuvw" } },
    { name: "frames without a version name none", lines: LOAD_ERROR, stream: "stderr", expected: { service: undefined, version: undefined, stack: LOAD_ERROR.slice(1).join("\n") } },
  ];
  it.each(cases)("$name", ({ lines, stream, expected }) => {
    const got = describeEvent(lines, stream);
    for (const [k, v] of Object.entries(expected)) expect({ [k]: got[k as keyof typeof got] }).toEqual({ [k]: v });
  });
});

describe("EventBuffer", () => {
  it("emits an event when the next begins, and the last one after the flush delay", async () => {
    const got: string[][] = [];
    const buffer = new EventBuffer((lines) => got.push(lines), 20);
    for (const line of [...CONSOLE_ERROR, "next line"]) buffer.push(line);
    expect(got).toEqual([CONSOLE_ERROR]);
    await new Promise((r) => setTimeout(r, 60));
    expect(got).toEqual([CONSOLE_ERROR, ["next line"]]);
  });

  it("close() emits what is pending; an endless stack is cut at EVENT_MAX_LINES", () => {
    const got: string[][] = [];
    const buffer = new EventBuffer((lines) => got.push(lines), 10_000);
    buffer.push("Error: deep");
    for (let i = 0; i < EVENT_MAX_LINES + 5; i++) buffer.push(`    at f${i} (x.js:1:1)`);
    buffer.close();
    expect(got.map((e) => e.length)).toEqual([EVENT_MAX_LINES, 6]);
    buffer.close();
    expect(got).toHaveLength(2);
  });
});
