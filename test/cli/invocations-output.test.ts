// What the CLI prints about invocations in trouble (status, gridiron invocations, gridiron call's
// notices) and what `gridiron call` says about a missing key or content type. Pure text.
import { describe, expect, it } from "vitest";
import { contentTypeText, missingKeyText } from "../../reconciler/cli/call.ts";
import { callNotice, errorLines, invocationsText, progressText, troubleLines, untilText } from "../../reconciler/cli/invocations-output.ts";
import type { InvocationInTrouble } from "../../reconciler/restate/trouble.ts";

const NOW = Date.parse("2026-12-03T08:00:00.000Z");
const inv = (over: Partial<InvocationInTrouble> = {}): InvocationInTrouble => ({
  id: "inv_1a",
  state: "retrying",
  status: "backing-off",
  target: "Faulty/fail",
  restateService: "Faulty",
  handler: "fail",
  attempts: 4,
  nextRetryAt: "2026-12-03T08:00:08.000Z",
  lastError: { message: "faulty handler failed on x", code: "RT0007", stack: "Error: faulty handler failed on x\n    at Object.fail (faulty/v-1/index.js:9:13)\n    at run (faulty/v-1/index.js:1:1)" },
  resolve: ["gridiron kill inv_1a"],
  ...over,
});

describe("untilText", () => {
  it.each([
    ["2026-12-03T08:00:08.000Z", "in 8 s"],
    ["2026-12-03T08:05:00.000Z", "in 5 min"],
    ["2026-12-03T11:00:00.000Z", "in 3 h"],
    ["2026-12-03T07:59:00.000Z", "now"],
    [undefined, undefined],
    ["garbage", undefined],
  ])("%s → %s", (iso, want) => expect(untilText(iso, NOW)).toBe(want));
});

describe("progressText", () => {
  it.each([
    [inv(), "attempt 4 failed, next retry in 8 s"],
    [inv({ status: "running" }), "attempt 4 failed, trying again now"],
    [inv({ state: "paused", status: "paused", attempts: 70 }), "paused after 70 attempts: Restate will not try again until it is resumed"],
    [inv({ state: "blocking", status: "suspended" }), "suspended: still needs this version"],
  ])("%#", (t, want) => expect(progressText(t, NOW)).toBe(want));
});

describe("troubleLines", () => {
  it("shows the invocation, its error with the top frame, and what resolves it", () => {
    expect(troubleLines(inv(), { indent: "    ", now: NOW, stackLines: 1, countRest: false })).toEqual([
      "    retrying  inv_1a  Faulty/fail  attempt 4 failed, next retry in 8 s",
      "              faulty handler failed on x  [RT0007]",
      "                at Object.fail (faulty/v-1/index.js:9:13)",
      "              resolve: gridiron kill inv_1a",
    ]);
  });

  it("counts the frames it leaves out, and names the journal entry", () => {
    expect(errorLines(inv({ lastError: { message: "m", entry: "Run charge", stack: "Error: m\n at a (x:1:1)\n at b (x:2:2)\n at c (x:3:3)" } }), 1)).toEqual([
      "m  (in Run charge)", "  at a (x:1:1)", "  … 2 more frame(s)",
    ]);
  });
});

describe("invocationsText", () => {
  it("groups by version and points at the Restate CLI for the rest", () => {
    const text = invocationsText({ checkedAt: "t", invocations: [{ ...inv(), service: "faulty", version: "v-1" }] }, NOW);
    expect(text.split("\n").slice(0, 2)).toEqual(["faulty/v-1", "  retrying  inv_1a  Faulty/fail  attempt 4 failed, next retry in 8 s"]);
    expect(text).toContain("gridiron kill inv_1a");
    expect(text).toContain("npx restate invocations");
  });

  it("says when there is nothing in trouble, and when Restate could not be asked", () => {
    expect(invocationsText({ checkedAt: "t", invocations: [] }, NOW, "faulty")).toBe("no invocations in trouble for faulty: none retrying, paused or holding up a drain (Restate asked at t)");
    expect(invocationsText({ error: "asking Restate: refused", invocations: [] }, NOW)).toMatch(/^could not ask Restate: asking Restate: refused\n/);
  });
});

describe("callNotice", () => {
  it("first says what is wrong and how to end it, then only each new attempt", () => {
    expect(callNotice(inv(), NOW, true)).toBe(
      "gridiron call: no answer yet: invocation inv_1a (Faulty/fail) is retrying; attempt 4 failed: faulty handler failed on x; next retry in 8 s\n" +
      "  Restate retries it until it succeeds or is ended: 'gridiron kill inv_1a'. Still waiting (Ctrl-C stops waiting; the invocation goes on).",
    );
    expect(callNotice(inv({ attempts: 5 }), NOW, false)).toBe("gridiron call: attempt 5 failed: faulty handler failed on x; next retry in 8 s");
  });

  it("says a paused invocation will not answer until resumed", () => {
    expect(callNotice(inv({ state: "paused", status: "paused", attempts: 70 }), NOW, true)).toContain("is paused after 70 attempts: faulty handler failed on x\n  It will not answer until resumed: 'gridiron resume inv_1a'");
  });
});

describe("gridiron call's explanations", () => {
  it("names the key a virtual object or workflow needs", () => {
    expect(missingKeyText("Cart", "view", "VirtualObject")).toBe(
      "Cart is a virtual object: every call names the key of the object it is for, e.g.\n  gridiron call Cart/view <key> [<json>]\n  gridiron call Cart/<key>/view [<json>]",
    );
    expect(missingKeyText("Signup", "run", "Workflow")).toMatch(/^Signup is a workflow: every call names the key of the workflow run/);
  });

  it("says which content type the handler takes and how to send it", () => {
    expect(contentTypeText("Files", "put", "input validation error: Content-type 'application/json' does not match 'application/octet-stream'")).toBe(
      "Files/put takes application/octet-stream, and the call sent application/json: send the body as it is with --content-type application/octet-stream, e.g.\n" +
      "  gridiron call Files/put --content-type application/octet-stream '<body>'",
    );
    expect(contentTypeText("Greeter", "greet", "input validation error: Content-type 'text/plain' does not match 'application/json'")).toBe(
      "Greeter/greet takes a JSON body (application/json), and the call sent text/plain: pass the JSON as the last argument (a string needs its quotes: '\"Ana\"'), or use --string <text>",
    );
    expect(contentTypeText("Greeter", "greet", "bad path")).toBeUndefined();
  });
});
