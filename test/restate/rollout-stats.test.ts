import { describe, expect, it } from "vitest";
import { parseDeploymentUri, rampUri } from "../../reconciler/restate/deployments.ts";
import { parseRampSegment, rampBucket, rampPick, type Ramp } from "../../reconciler/restate/ramp.ts";
import { rampInvocations, rampQuery, tally } from "../../reconciler/restate/rollout-stats.ts";

const ramp: Ramp = { from: "v1-aaaaaaaaaaaa", to: "v2-bbbbbbbbbbbb", weight: 50 };

describe("ramp URIs", () => {
  it("round-trips as a deployment of the new version", () => {
    const uri = rampUri("http://127.0.0.1:9000", "greeter", ramp);
    expect(uri).toBe("http://127.0.0.1:9000/greeter/ramp~v1-aaaaaaaaaaaa~v2-bbbbbbbbbbbb~50/");
    expect(parseDeploymentUri("http://127.0.0.1:9000", uri)).toEqual({ service: "greeter", version: ramp.to, ramp });
  });
  it.each([
    ["ramp~v1-aaaaaaaaaaaa~v2-bbbbbbbbbbbb~0", null],
    ["ramp~v1-aaaaaaaaaaaa~v2-bbbbbbbbbbbb~100", null],
    ["ramp~v1-aaaaaaaaaaaa~v1-aaaaaaaaaaaa~10", null],
    ["ramp~v1~v2-bbbbbbbbbbbb~10", null],
    ["ramp~v1-aaaaaaaaaaaa~v2-bbbbbbbbbbbb~10", { ...ramp, weight: 10 }],
  ])("parses %s", (segment, want) => expect(parseRampSegment(segment)).toEqual(want));
  it("hashes ids into 0..99, evenly enough", () => {
    const buckets = new Array(10).fill(0);
    for (let i = 0; i < 5000; i++) buckets[Math.floor(rampBucket(`inv_1${i.toString(36)}abc${i * 31}`) / 10)]++;
    for (const n of buckets) expect(n).toBeGreaterThan(400);
  });
});

describe("rollout stats", () => {
  it("asks only for valid deployment ids", () => {
    expect(rampQuery([])).toBeUndefined();
    expect(rampQuery(["dp_1", "x' OR 1=1"])).toContain("IN ('dp_1')");
  });

  it("tallies each ramp invocation against the version the router gave it", () => {
    const ids = Array.from({ length: 40 }, (_, i) => `inv_1test${i}`);
    const rows = ids.map((id, i) => ({
      id,
      pinned_deployment_id: i % 10 === 9 ? null : "dp_ramp",
      last_attempt_deployment_id: "dp_ramp",
      status: i % 5 === 0 ? "backing-off" : i % 7 === 0 ? "paused" : "completed",
      completion_result: i % 11 === 0 ? "failure" : "success",
      retry_count: 2,
      last_failure_error_code: i % 5 === 0 ? "RT0007" : null,
    }));
    rows.push({ ...rows[0]!, id: "inv_1other", pinned_deployment_id: "dp_other", last_attempt_deployment_id: "dp_other" });
    const invs = rampInvocations(rows, new Map([["dp_ramp", ramp]]));
    expect(invs).toHaveLength(40);
    const t = tally(invs, "dp_ramp", ramp);
    expect(t.old.started + t.new.started).toBe(40);
    const newIds = ids.filter((id) => rampPick(ramp, id) === ramp.to);
    expect(t.new.started).toBe(newIds.length);
    const total = (k: "completed" | "failed" | "retrying" | "paused") => t.old[k] + t.new[k];
    expect(total("retrying")).toBe(8);
    expect(total("paused")).toBe(ids.filter((_, i) => i % 5 !== 0 && i % 7 === 0).length);
    expect(total("failed") + total("completed")).toBe(40 - 8 - total("paused"));
    expect(invs.filter((i) => i.troubled)).toHaveLength(8 + total("paused"));
  });
});
