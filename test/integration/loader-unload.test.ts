// Loader mode bounds what stays loaded (router.js, the policy's loadedMax): past the limit the
// least recently used version is unloaded, and loads again, fresh, on its next request; requests
// still running in the unloaded isolate finish there, and none is lost while versions churn. A
// version dropped from the live set is unloaded at once. A real workerd serving the real router,
// with the limit at 2 so three versions are enough.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BundleSpec } from "../../reconciler/source/bundle.ts";
import { liveSet } from "../../reconciler/workerd/build.ts";
import { putJson } from "../../reconciler/workerd/control.ts";
import { HttpClient } from "../../reconciler/core/http-client.ts";
import type { ScratchWorkerd } from "../../reconciler/workerd/scratch.ts";
import { startLoaderWorkerd } from "../helpers/loader-workerd.ts";

// Counts the requests its isolate has seen, so a fresh load shows as #1 again.
const SOURCE = (label: string) => `
let n = 0;
export default {
  async fetch(request) {
    n++;
    const route = new URL(request.url).pathname;
    if (route.endsWith("/slow")) await new Promise((r) => setTimeout(r, 1500));
    if (route.endsWith("/tick")) await new Promise((r) => setTimeout(r, 5));
    return new Response("${label} #" + n);
  },
};
`;

let root: string;
let w: ScratchWorkerd;
let socket: string;
let specs: BundleSpec[] = [];

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "gridiron-unload-"));
  ({ w, specs, socket } = await startLoaderWorkerd(root, { a: SOURCE("a"), b: SOURCE("b"), c: SOURCE("c") }, { loadedMax: 2 }));
});

afterAll(async () => {
  await w?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

async function call(label: string, route = "/x"): Promise<string> {
  const spec = specs.find((s) => s.service === label)!;
  const r = await fetch(`http://127.0.0.1:${w.port}/${label}/${spec.version}${route}`);
  return `${r.status} ${await r.text()}`;
}

/** Polls until `label` answers as a fresh load would, after the unload (which runs after the answer). */
async function untilFresh(label: string): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await call(label);
    if (r === `200 ${label} #1` || Date.now() > deadline) return r;
    await new Promise((res) => setTimeout(res, 100));
  }
}

describe("loader mode unloads the least recently used version past loadedMax, and dropped versions", () => {
  it("keeps two loaded, unloads the oldest for a third, and reloads it fresh", async () => {
    expect(await call("a")).toBe("200 a #1");
    expect(await call("a")).toBe("200 a #2");
    expect(await call("b")).toBe("200 b #1");
    // c is the third: a, the least recently used, is unloaded once c has answered.
    expect(await call("c")).toBe("200 c #1");
    // b stayed loaded; a loads afresh (its counter starts again), which in turn unloads b.
    expect(await call("b")).toBe("200 b #2");
    expect(await untilFresh("a")).toBe("200 a #1");
    // An unload is no failure: workerd logs no error for it.
    expect(w.stderr()).not.toContain("script terminated");
  });

  it("a request still running in an unloaded isolate finishes there", async () => {
    // b, then a: the two loaded. c then pushes out b, the least recently used, while b's slow
    // request is still running.
    const slow = call("b", "/slow");
    await new Promise((res) => setTimeout(res, 200));
    expect(await call("a")).toMatch(/^200 a #\d+$/);
    expect(await call("c")).toMatch(/^200 c #\d+$/);
    expect(await slow).toMatch(/^200 b #\d+$/);
    // b's next request is a fresh load.
    expect(await untilFresh("b")).toBe("200 b #1");
  });

  it("no request fails while versions churn: concurrent calls across three versions with two kept", async () => {
    const labels = ["a", "b", "c"];
    const answers = await Promise.all(Array.from({ length: 6 }, async (_, worker) => {
      const out: string[] = [];
      for (let i = 0; i < 40; i++) out.push(await call(labels[(worker + i * (worker + 1)) % 3]!, "/tick"));
      return out;
    }));
    const bad = answers.flat().filter((a) => !/^200 [abc] #\d+$/.test(a));
    expect(bad).toEqual([]);
  });

  it("a version dropped from the live set is unloaded at once, not kept until the bound", async () => {
    const control = new HttpClient();
    try {
      expect(await call("c")).toMatch(/^200 c #\d+$/);
      expect(await call("c")).not.toBe("200 c #1");
      await putJson(control, socket, "/live", liveSet(specs.filter((s) => s.service !== "c")), 5000);
      expect(await call("c")).toMatch(/^404 /);
      await putJson(control, socket, "/live", liveSet(specs), 5000);
      expect(await untilFresh("c")).toBe("200 c #1");
    } finally {
      control.close();
    }
  });
});
