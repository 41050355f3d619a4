// What was in a workerd process when it died: the query names the process's deployments, and the
// rows are kept when their attempt ran there (last attempt or pin) and started on that process.
import { describe, expect, it } from "vitest";
import { inFlightQuery, parseInFlightRows, pausedQuery } from "../../reconciler/restate/in-flight.ts";

describe("inFlightQuery", () => {
  it("asks for running and backing-off invocations on the deployments, by last attempt or pin", () => {
    expect(inFlightQuery(["dp_1abc", "dp_2def"])).toBe(
      "SELECT id, status, target_service_name, target_service_key, target_handler_name, pinned_deployment_id, last_attempt_deployment_id, last_start_at FROM sys_invocation " +
      "WHERE status IN ('running', 'backing-off') AND (last_attempt_deployment_id IN ('dp_1abc', 'dp_2def') OR pinned_deployment_id IN ('dp_1abc', 'dp_2def'))");
  });

  it("asks nothing without a well-formed deployment id", () => {
    expect(inFlightQuery([])).toBeUndefined();
    expect(inFlightQuery(["dp_1' OR 1=1 --"])).toBeUndefined();
  });
});

describe("parseInFlightRows", () => {
  const row = (over: Record<string, unknown>) => ({
    id: "inv_1", status: "running", target_service_name: "Poison", target_handler_name: "spin", last_attempt_deployment_id: "dp_a", last_start_at: "2026-12-03T10:00:05.000Z", ...over,
  });

  it("names the target and the deployment (the last attempt's, else the pin)", () => {
    const got = parseInFlightRows([
      row({}),
      row({ id: "inv_2", target_service_name: "Counter", target_service_key: "k", target_handler_name: "add", last_attempt_deployment_id: null, pinned_deployment_id: "dp_a" }),
    ], ["dp_a"]);
    expect(got).toEqual([
      { id: "inv_1", status: "running", restateService: "Poison", handler: "spin", target: "Poison/spin", deploymentId: "dp_a", startedAt: Date.parse("2026-12-03T10:00:05.000Z") },
      { id: "inv_2", status: "running", restateService: "Counter", handler: "add", key: "k", target: "Counter/k/add", deploymentId: "dp_a", startedAt: Date.parse("2026-12-03T10:00:05.000Z") },
    ]);
  });

  it("drops rows of other deployments, rows without an id or target, and duplicates", () => {
    expect(parseInFlightRows([row({ last_attempt_deployment_id: "dp_other" }), row({ id: null }), row({ target_handler_name: "" })], ["dp_a"])).toEqual([]);
    expect(parseInFlightRows([row({}), row({})], ["dp_a"])).toHaveLength(1);
  });

  it("with startedSince, drops attempts that started before (they ran on an earlier process)", () => {
    const since = Date.parse("2026-12-03T10:00:00.000Z");
    const got = parseInFlightRows([
      row({ id: "inv_old", status: "backing-off", last_start_at: "2026-12-03T09:59:59.000Z" }),
      row({ id: "inv_new" }),
      row({ id: "inv_unknown", last_start_at: null }),
    ], ["dp_a"], since);
    expect(got.map((i) => i.id)).toEqual(["inv_new", "inv_unknown"]);
  });
});

describe("pausedQuery", () => {
  it("asks about well-formed ids only", () => {
    expect(pausedQuery(["inv_1abc", "inv_x'; DROP"])).toBe("SELECT id, status FROM sys_invocation WHERE id IN ('inv_1abc')");
    expect(pausedQuery([])).toBeUndefined();
  });
});
