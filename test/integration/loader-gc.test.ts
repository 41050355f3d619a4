// Loader mode collects garbage by requests served (router.js): workerd runs with V8's --expose-gc,
// the router runs a full GC in itself and in each loaded version once every so many requests, and
// bundle code never sees `gc`. A real workerd serving the real router; what the router did is read
// from GET /collections on the generation's control socket.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpClient } from "../../reconciler/core/http-client.ts";
import type { BundleSpec } from "../../reconciler/source/bundle.ts";
import { liveSet } from "../../reconciler/workerd/build.ts";
import { putJson } from "../../reconciler/workerd/control.ts";
import type { ScratchWorkerd } from "../../reconciler/workerd/scratch.ts";
import { startLoaderWorkerd } from "../helpers/loader-workerd.ts";

// Says what it can see of `gc`, and counts requests, so a reload would show as #1 again.
const SOURCE = (label: string) => `
const atStart = typeof globalThis.gc;
let n = 0;
export default {
  async fetch() {
    n++;
    return new Response("${label} #" + n + " gc:" + atStart + "/" + typeof gc);
  },
};
`;

interface Summary { every: number; collections: number; markMs: number | null }
interface Collections { router: Summary; versions: Record<string, Summary> }

let root: string;
let w: ScratchWorkerd;
let socket: string;
let specs: BundleSpec[] = [];
const control = new HttpClient();

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "gridiron-loader-gc-"));
  const started = await startLoaderWorkerd(root, { a: SOURCE("a"), b: SOURCE("b") });
  ({ w, specs, socket } = started);
  expect(started.config.v8Flags).toContain("--expose-gc");
});

afterAll(async () => {
  await w?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

const key = (label: string) => `${label}/${specs.find((s) => s.service === label)!.version}`;

async function call(label: string): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${w.port}/${key(label)}/x`);
  return `${r.status} ${await r.text()}`;
}

async function collections(): Promise<Collections> {
  const res = await control.request("http://workerd/collections", { method: "GET", socketPath: socket, timeoutMs: 5000 });
  expect(res.status).toBe(200);
  return JSON.parse(res.text) as Collections;
}

/** Polls /collections until `ok` holds (a collection runs after the request that made it due). */
async function until(ok: (c: Collections) => boolean): Promise<Collections> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const c = await collections();
    if (ok(c) || Date.now() > deadline) return c;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("loader mode collects garbage by requests served", () => {
  it("hides gc from bundle code, before its modules run and after", async () => {
    expect(await call("a")).toBe("200 a #1 gc:undefined/undefined");
  });

  it("collects in a version and in the router once enough requests went through, without reloading the version", async () => {
    const before = await collections();
    expect(before.versions[key("a")]).toEqual({ every: 256, collections: 0, markMs: null });
    // Eight at a time, as a load would: every answer from the one isolate, counting on.
    const answers: string[] = [];
    for (let i = 0; i < 75; i++) answers.push(...(await Promise.all(Array.from({ length: 8 }, () => call("a")))));
    expect(answers.every((a) => /^200 a #\d+ gc:undefined\/undefined$/.test(a))).toBe(true);
    expect(new Set(answers).size).toBe(600);
    const after = await until((c) => (c.versions[key("a")]?.collections ?? 0) >= 1 && c.router.collections >= 1);
    const a = after.versions[key("a")]!;
    expect(a.collections).toBeGreaterThanOrEqual(1);
    // The first collection probes what marking costs; the interval follows from it, within bounds.
    expect(a.markMs).toEqual(expect.any(Number));
    expect(a.every).toBeGreaterThanOrEqual(256);
    expect(a.every).toBeLessThanOrEqual(16384);
    expect(after.router.collections).toBeGreaterThanOrEqual(1);
    expect(after.router.markMs).toEqual(expect.any(Number));
    expect(await call("a")).toBe("200 a #602 gc:undefined/undefined");
    expect(after.versions[key("b")]).toBeUndefined();
  });

  it("forgets a version dropped from the live set", async () => {
    await putJson(control, socket, "/live", liveSet(specs.filter((s) => s.service !== "a")), 5000);
    const c = await collections();
    expect(c.versions[key("a")]).toBeUndefined();
    expect(await call("b")).toBe("200 b #1 gc:undefined/undefined");
  });
});
