// The router's ramp routing, run as plain JS with a fake env (static mode): each invocation goes
// to the version restate/ramp.ts predicts for its id, discovery goes to the new version.
import { describe, expect, it } from "vitest";
import { ROUTER_FILE } from "../../reconciler/workerd/router-source.ts";
import { rampPick, rampSegment, type Ramp } from "../../reconciler/restate/ramp.ts";

const router = (await import(ROUTER_FILE as string)).default as { fetch(r: Request, env: unknown): Promise<Response> };
const ramp: Ramp = { from: "v1-aaaaaaaaaaaa", to: "v2-bbbbbbbbbbbb", weight: 30 };
const env = {
  GRIDIRON_REQUEST_IDENTITY: { keys: null },
  [`greeter/${ramp.from}`]: { fetch: async () => new Response(ramp.from) },
  [`greeter/${ramp.to}`]: { fetch: async () => new Response(ramp.to) },
};
const base = `http://cell/greeter/${rampSegment(ramp)}`;

describe("router: ramp", () => {
  it("sends each invocation where rampPick says, the same on every attempt", async () => {
    let toNew = 0;
    for (let i = 0; i < 400; i++) {
      const id = `inv_1${(i * 7919).toString(36)}Xy${i}`;
      const req = () => new Request(`${base}/invoke/Greeter/greet`, { method: "POST", headers: { "x-restate-invocation-id": id } });
      const first = await (await router.fetch(req(), env)).text();
      expect(first).toBe(rampPick(ramp, id));
      expect(await (await router.fetch(req(), env)).text()).toBe(first);
      if (first === ramp.to) toNew++;
    }
    // 400 draws at p = 0.3: mean 120, sd ≈ 9.2; 4 sd either side.
    expect(toNew).toBeGreaterThan(83);
    expect(toNew).toBeLessThan(157);
  });

  it("answers discovery with the new version, and a segment that is no ramp with 404", async () => {
    expect(await (await router.fetch(new Request(`${base}/discover`), env)).text()).toBe(ramp.to);
    expect((await router.fetch(new Request("http://cell/greeter/ramp~x~y~5/discover"), env)).status).toBe(404);
  });
});
