// The invocations-in-trouble query and its parser, on rows shaped like restate-server 1.7's
// sys_invocation (as seen from a handler that throws).
import { describe, expect, it } from "vitest";
import { isInvocationId, matchQuery, parseFailure, parseTroubleRows, sqlString, troubleQuery } from "../../reconciler/restate/trouble.ts";

const FAILURE = "[500 Internal] faulty handler failed on x\nError: faulty handler failed on x\n    at Object.fail (faulty/v-1/index.js:4319:13)\n    at async startUserHandler (faulty/v-1/index.js:4015:3)";

const row = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  id: "inv_160xkHr33wXZ4UTXi9vFME7P8Rlf2nO9xr",
  status: "backing-off",
  target_service_name: "Faulty",
  target_handler_name: "fail",
  retry_count: 4,
  next_retry_at: "2026-12-03T08:32:19.951Z",
  last_attempt_deployment_id: "dp_12h5Qg5QpSSxWFz5LCG90tz",
  last_failure: FAILURE,
  last_failure_error_code: "RT0007",
  created_at: "2026-12-03T08:32:10.983Z",
  ...over,
});

describe("troubleQuery", () => {
  it("asks for retrying and paused invocations of our services, and for the open ones blocking a drain", () => {
    const sql = troubleQuery(["Faulty", "O'Brien"], ["inv_1abc", "not an id; DROP"])!;
    expect(sql).toContain("FROM sys_invocation WHERE");
    expect(sql).toContain("target_service_name IN ('Faulty', 'O''Brien')");
    expect(sql).toContain("status = 'paused' OR (last_failure IS NOT NULL AND status IN ('backing-off', 'running', 'ready', 'pending'))");
    expect(sql).toContain("id IN ('inv_1abc') AND status != 'completed'");
    expect(sql).not.toContain("DROP");
    expect(sql).toMatch(/LIMIT \d+$/);
  });

  it("asks nothing when there is nothing to ask about", () => {
    expect(troubleQuery([], [])).toBeUndefined();
    expect(troubleQuery([], ["nope"])).toBeUndefined();
  });

  it("quotes SQL strings and recognises invocation ids", () => {
    expect(sqlString("a'b")).toBe("'a''b'");
    expect(isInvocationId("inv_160xkHr33wXZ4UTXi9vFME7P8Rlf2nO9xr")).toBe(true);
    expect(isInvocationId("inv_1 OR 1=1")).toBe(false);
    expect(isInvocationId("dp_12h5")).toBe(false);
  });
});

describe("matchQuery (how gridiron call finds its own invocation)", () => {
  it.each([
    [{ id: "inv_1x" }, ["id = 'inv_1x'"]],
    [{ service: "Faulty", handler: "fail", idempotencyKey: "gridiron-call-1" }, ["target_service_name = 'Faulty'", "target_handler_name = 'fail'", "idempotency_key = 'gridiron-call-1'"]],
    [{ service: "Box", handler: "peek", key: "k'1", idempotencyKey: "k" }, ["target_service_key = 'k''1'", "idempotency_key = 'k'"]],
    [{ service: "Flow", handler: "run", key: "w1", workflow: true as const }, ["target_service_key = 'w1'", "status != 'completed'"]],
  ])("%j", (m, parts) => {
    const sql = matchQuery(m);
    for (const p of parts) expect(sql).toContain(p);
    expect(sql).toMatch(/ORDER BY created_at DESC LIMIT 1$/);
  });
});

describe("parseFailure", () => {
  it.each([
    [FAILURE, "RT0007", undefined, { message: "faulty handler failed on x", code: "RT0007", stack: "Error: faulty handler failed on x\n    at Object.fail (faulty/v-1/index.js:4319:13)\n    at async startUserHandler (faulty/v-1/index.js:4015:3)" }],
    ["[500 Internal] connection refused", undefined, "Run charge", { message: "connection refused", entry: "Run charge" }],
    ["no prefix here", undefined, undefined, { message: "no prefix here" }],
  ])("%j", (text, code, entry, want) => {
    expect(parseFailure(text, code, entry)).toEqual(want);
  });
});

describe("parseTroubleRows", () => {
  it("turns a backing-off row into one retrying entry with attempts, next retry and the error", () => {
    expect(parseTroubleRows([row(), row()])).toEqual([{
      id: "inv_160xkHr33wXZ4UTXi9vFME7P8Rlf2nO9xr",
      state: "retrying",
      status: "backing-off",
      target: "Faulty/fail",
      restateService: "Faulty",
      handler: "fail",
      deploymentId: "dp_12h5Qg5QpSSxWFz5LCG90tz",
      attempts: 4,
      nextRetryAt: "2026-12-03T08:32:19.951Z",
      lastError: { message: "faulty handler failed on x", code: "RT0007", stack: expect.stringContaining("at Object.fail") },
      createdAt: "2026-12-03T08:32:10.983Z",
    }]);
  });

  it.each([
    ["paused", { status: "paused" }, "paused"],
    ["running again after a failure", { status: "running" }, "retrying"],
    ["suspended after a failure (it made progress)", { status: "suspended" }, undefined],
    ["running, never failed", { status: "running", last_failure: null }, undefined],
    ["completed", { status: "completed" }, undefined],
  ])("%s", (_name, over, state) => {
    expect(parseTroubleRows([row(over)])[0]?.state).toBe(state);
  });

  it("keeps an open invocation named as blocking a drain, healthy or not", () => {
    const blocking = new Set(["inv_160xkHr33wXZ4UTXi9vFME7P8Rlf2nO9xr"]);
    expect(parseTroubleRows([row({ status: "suspended", last_failure: null })], blocking)[0]).toMatchObject({ state: "blocking", status: "suspended" });
    expect(parseTroubleRows([row({ status: "completed" })], blocking)).toEqual([]);
    // Failing wins over blocking: what to do about it is the failure.
    expect(parseTroubleRows([row()], blocking)[0]?.state).toBe("retrying");
  });

  it("names an object's key in the target, prefers the pinned deployment, and skips rows it cannot read", () => {
    const [inv] = parseTroubleRows([row({ target_service_name: "Box", target_service_key: "k1", target_handler_name: "peek", pinned_deployment_id: "dp_pinned" }), { id: 7 }]);
    expect(inv).toMatchObject({ target: "Box/k1/peek", key: "k1", deploymentId: "dp_pinned" });
  });
});
