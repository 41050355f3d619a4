// Where invocations in trouble show up in status, with the commands that resolve them, and how
// often Restate is asked (one answer per second, the last one kept when Restate does not answer).
import { describe, expect, it } from "vitest";
import { InvocationWatch, resolveCommands, troubleList, withTrouble } from "../../reconciler/api/invocations.ts";
import type { InvocationInTrouble } from "../../reconciler/restate/trouble.ts";
import type { ServiceStatus, Status } from "../../reconciler/reconcile/status.ts";

const inv = (over: Partial<InvocationInTrouble> = {}): InvocationInTrouble => ({
  id: "inv_1a",
  state: "retrying",
  status: "backing-off",
  target: "Faulty/fail",
  restateService: "Faulty",
  handler: "fail",
  deploymentId: "dp_new",
  attempts: 3,
  lastError: { message: "faulty handler failed on x" },
  ...over,
});

function service(over: Partial<ServiceStatus> = {}): ServiceStatus {
  return {
    service: "faulty",
    serving: "v-new",
    desired: "v-new",
    conditions: [{ type: "Draining", status: true, reason: "InvocationsInFlight", message: "v-old: 1 invocation(s) still need it: inv_1b", since: "t" }],
    versions: [
      { version: "v-new", state: "serving", deploymentId: "dp_new", restateServices: ["Faulty"] },
      { version: "v-old", state: "draining", deploymentId: "dp_old", restateServices: ["Faulty"], blocking: 1, invocations: ["inv_1b"] },
      { version: "v-older", state: "stored" },
    ],
    ...over,
  };
}

const status = (services: ServiceStatus[]): Status => ({
  source: { kind: "folder", location: "/b" },
  workerd: { url: "http://w", generation: 1, mode: "loader" },
  restate: { ingressUrl: "http://i", adminUrl: "http://a" },
  services,
  history: [],
});

const snapshot = (list: InvocationInTrouble[], error?: string) => ({ list, checkedAt: "2026-12-03T08:00:00.000Z", ...(error ? { error } : {}) });

describe("resolveCommands", () => {
  const svc = { service: "faulty", serving: "v-new", desired: "v-new" };
  it.each([
    ["retrying on the serving version", inv(), { version: "v-new", state: "serving" as const }, svc, ["gridiron kill inv_1a"]],
    ["retrying on a replaced version", inv(), { version: "v-old", state: "draining" as const }, svc, ["gridiron kill inv_1a", "gridiron move faulty v-old"]],
    ["paused on the serving version", inv({ state: "paused" }), { version: "v-new", state: "serving" as const }, svc, ["gridiron resume inv_1a", "gridiron kill inv_1a"]],
    ["paused on a replaced version", inv({ state: "paused" }), { version: "v-old", state: "stuck" as const }, svc, ["gridiron resume inv_1a --deployment latest", "gridiron kill inv_1a"]],
    ["blocking a drain", inv({ state: "blocking" }), { version: "v-old", state: "draining" as const }, svc, ["gridiron move faulty v-old", "gridiron kill inv_1a"]],
    ["blocking the drain of a service removed from the source (nothing to move to)", inv({ state: "blocking" }), { version: "v-old", state: "draining" as const }, { service: "faulty", serving: "v-old", desired: undefined }, ["gridiron kill inv_1a"]],
  ])("%s", (_name, i, version, s, want) => {
    expect(resolveCommands(i, s, version)).toEqual(want);
  });
});

describe("withTrouble", () => {
  it("lists an invocation a cell watchdog paused once, as poisoned, not again as paused", () => {
    const poisoned = { id: "inv_1a", service: "faulty", version: "v-new", handler: "Faulty/spin", how: "hang" as const, kills: 3, pausedAt: "t", resolve: ["gridiron kill inv_1a"] };
    const base = service();
    const withPoison = { ...base, versions: base.versions.map((v) => (v.version === "v-new" ? { ...v, poisoned: [poisoned] } : v)) } as ServiceStatus;
    const s = withTrouble(status([withPoison]), snapshot([inv({ state: "paused" })]));
    expect(s.services[0]!.versions[0]!.trouble).toBeUndefined();
    expect(troubleList(s)).toEqual([]);
  });

  it("puts each invocation under the version of its deployment, with its commands", () => {
    const s = withTrouble(status([service()]), snapshot([inv(), inv({ id: "inv_1b", deploymentId: "dp_old", state: "blocking", status: "suspended" })]));
    const [serving, old, stored] = s.services[0]!.versions;
    expect(serving!.trouble).toEqual([{ ...inv(), resolve: ["gridiron kill inv_1a"] }]);
    expect(old!.trouble?.map((t) => [t.id, t.resolve])).toEqual([["inv_1b", ["gridiron move faulty v-old", "gridiron kill inv_1b"]]]);
    expect(stored!.trouble).toBeUndefined();
    expect(s.troubleCheck).toEqual({ checkedAt: "2026-12-03T08:00:00.000Z" });
  });

  it("places one without a deployment under the version serving its Restate service, and leaves out what is not ours", () => {
    const s = withTrouble(status([service()]), snapshot([inv({ deploymentId: undefined }), inv({ id: "inv_1z", deploymentId: "dp_elsewhere", restateService: "Other" })]));
    expect(troubleList(s).map((t) => [t.id, t.service, t.version])).toEqual([["inv_1a", "faulty", "v-new"]]);
  });

  it("says in the Draining condition which invocation fails and how to end it", () => {
    const s = withTrouble(status([service()]), snapshot([inv({ id: "inv_1b", deploymentId: "dp_old" })]));
    const draining = s.services[0]!.conditions.find((c) => c.type === "Draining")!;
    expect(draining.message).toBe("v-old: 1 invocation(s) still need it: inv_1b; inv_1b is failing (attempt 3): faulty handler failed on x: end it with 'gridiron kill inv_1b'");
  });

  it("says how to end a drain held up by healthy invocations: move them, or (service removed) let them finish", () => {
    const moved = withTrouble(status([service()]), snapshot([])).services[0]!.conditions[0]!.message;
    expect(moved).toContain("move what still needs v-old to v-new with 'gridiron move faulty v-old', or end an invocation with 'gridiron kill <id>'");
    const removed = withTrouble(status([service({ serving: "v-old", desired: undefined })]), snapshot([])).services[0]!.conditions[0]!.message;
    expect(removed).toContain("let what still needs v-old finish, or end it with 'gridiron kill <id>' (ids in 'gridiron invocations faulty')");
  });

  it("does not change the status it was given, and carries a query error", () => {
    const before = status([service()]);
    const copy = structuredClone(before);
    const s = withTrouble(before, snapshot([inv()], "asking Restate for invocations in trouble: timeout"));
    expect(before).toEqual(copy);
    expect(s.troubleCheck?.error).toContain("timeout");
  });

  it("troubleList filters by Gridiron or Restate service name", () => {
    const s = withTrouble(status([service()]), snapshot([inv()]));
    expect(troubleList(s, "faulty")).toHaveLength(1);
    expect(troubleList(s, "Faulty")).toHaveLength(1);
    expect(troubleList(s, "greeter")).toHaveLength(0);
  });
});

describe("InvocationWatch", () => {
  const row = { id: "inv_1a", status: "backing-off", target_service_name: "Faulty", target_handler_name: "fail", last_failure: "[500 Internal] boom", retry_count: 2 };

  it("asks Restate once for everyone who asks within the TTL, and again after a kill", async () => {
    let queries = 0;
    const admin = {
      query: async <Row>() => { queries++; return [row] as Row[]; },
      killInvocation: async () => "killed" as const,
      resumeInvocation: async () => undefined,
    };
    const watch = new InvocationWatch(admin, { ttlMs: 60_000 });
    const st = status([service()]);
    const [a, b] = await Promise.all([watch.status(st), watch.status(st)]);
    await watch.status(st);
    expect(queries).toBe(1);
    expect(troubleList(a).map((t) => t.id)).toEqual(["inv_1a"]);
    expect(b).toEqual(a);
    await watch.kill("inv_1a");
    await watch.status(st);
    expect(queries).toBe(2);
  });

  it("keeps the last answer, with the error beside it, when Restate does not answer", async () => {
    let fail = false;
    const admin = {
      query: async <Row>() => { if (fail) throw new Error("connect ECONNREFUSED"); return [row] as Row[]; },
      killInvocation: async () => "killed" as const,
      resumeInvocation: async () => undefined,
    };
    const watch = new InvocationWatch(admin, { ttlMs: 0 });
    const st = status([service()]);
    await watch.status(st);
    fail = true;
    const s = await watch.status(st);
    expect(troubleList(s).map((t) => t.id)).toEqual(["inv_1a"]);
    expect(s.troubleCheck?.error).toBe("asking Restate for invocations in trouble: connect ECONNREFUSED");
  });

  it("points each stack at the sources through mapStack", async () => {
    const admin = {
      query: async <Row>() => [{ ...row, last_failure: "[500 Internal] boom\nError: boom\n    at fail (faulty/v-1/index.js:9:13)" }] as Row[],
      killInvocation: async () => "killed" as const,
      resumeInvocation: async () => undefined,
    };
    const watch = new InvocationWatch(admin, { mapStack: (stack) => stack.replace("faulty/v-1/index.js:9:13", "services/faulty/index.ts:10:13") });
    const [t] = troubleList(await watch.status(status([service()])));
    expect(t!.lastError!.stack).toBe("Error: boom\n    at fail (services/faulty/index.ts:10:13)");
  });

  it("does not ask when no version is registered", async () => {
    let queries = 0;
    const admin = { query: async <Row>() => { queries++; return [] as Row[]; }, killInvocation: async () => "killed" as const, resumeInvocation: async () => undefined };
    await new InvocationWatch(admin).status(status([]));
    expect(queries).toBe(0);
  });
});

describe("gridiron_invocations_in_trouble", () => {
  it("counts them per service and state at scrape time", async () => {
    const { createMetrics } = await import("../../reconciler/api/metrics.ts");
    const reconciler = { on: () => reconciler, off: () => reconciler, status: () => status([service()]) };
    const invocations = { status: async (s: Status) => withTrouble(s, snapshot([inv(), inv({ id: "inv_1b", deploymentId: "dp_old", state: "paused" })])) };
    const m = createMetrics({ reconciler: reconciler as never, workerd: [], invocations }, { defaultMetrics: false });
    const text = await m.scrape();
    expect(text).toContain('gridiron_invocations_in_trouble{service="faulty",state="retrying"} 1');
    expect(text).toContain('gridiron_invocations_in_trouble{service="faulty",state="paused"} 1');
    expect(text).toContain('gridiron_invocations_in_trouble{service="faulty",state="blocking"} 0');
    m.close();
  });
});
