/**
 * Gridiron's fetch adapter (scripts/build/restate-fetch.js, swapped in by build-service) against
 * the SDK's own, both in a real workerd: a request-response call that finishes at once is answered
 * in one buffer with a Content-Length; one still running after STREAM_AFTER_MS streams from then
 * on, as the SDK's adapter does from the start. The answers themselves must not change, and calls
 * through a real restate-server must work on both paths.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_LIMITS, readBundle } from "../../reconciler/source/bundle.ts";
import { buildWorkerdConfig, workerServiceName } from "../../reconciler/workerd/build.ts";
import { readRouterModules } from "../../reconciler/workerd/router-source.ts";
import { encodeWorkerdConfig } from "../../reconciler/workerd/encode.ts";
import { startScratchWorkerd, type ScratchWorkerd } from "../../reconciler/workerd/scratch.ts";
import { buildService, type FetchAdapter } from "../../reconciler/build/service.ts";
import { INVOCATION_CONTENT_TYPE, invocationRequestBody, messageTypes } from "../helpers/restate-protocol.ts";
import { callIngress, registerDeployment, startRestate, type RestateServer } from "../helpers/restate.ts";

const FIXTURE_SERVICES = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "fixtures", "services");
const OUTPUT = 0x0401;
const END = 0x0003;
const ERROR = 0x0002; // ErrorMessage: the attempt failed (retryable)

interface Served {
  adapter: FetchAdapter | "none";
  workerd: ScratchWorkerd;
  /** http://127.0.0.1:<port>/slowpoke/<version> */
  base: string;
}

/** Builds a fixture with `adapter` and serves it on a scratch workerd, socket straight to the worker. */
async function serve(tmp: string, adapter: FetchAdapter, fixture = "slowpoke"): Promise<Served> {
  const out = path.join(tmp, `bundles-${adapter}`);
  const built = await buildService(fixture, out, { servicesDir: FIXTURE_SERVICES, fetchAdapter: adapter });
  const bundle = await readBundle(built.dir, DEFAULT_LIMITS);
  const config = buildWorkerdConfig([{ spec: bundle.spec, files: bundle.files }], await readRouterModules(), { identityKeys: null, outbound: "none" });
  config.sockets[0]!.service = workerServiceName(bundle.spec.service, bundle.spec.version);
  const file = path.join(tmp, `${fixture}-${adapter}.bin`);
  await writeFile(file, encodeWorkerdConfig(config));
  const workerd = await startScratchWorkerd(file, { logger: pino({ level: "silent" }) });
  return { adapter: built.fetchAdapter, workerd, base: `http://127.0.0.1:${workerd.port}/${bundle.spec.service}/${bundle.spec.version}` };
}

async function invoke(s: Served, handler: string, input: unknown): Promise<{ status: number; headers: Headers; body: Uint8Array }> {
  const res = await fetch(`${s.base}/invoke/Slowpoke/${handler}`, {
    method: "POST",
    headers: { "content-type": INVOCATION_CONTENT_TYPE, accept: INVOCATION_CONTENT_TYPE },
    body: invocationRequestBody(input),
  });
  return { status: res.status, headers: res.headers, body: new Uint8Array(await res.arrayBuffer()) };
}

const text = (b: Uint8Array): string => new TextDecoder().decode(b);

describe("the fetch adapter in bundles built by build-service", () => {
  let tmp: string;
  let gridiron: Served;
  let sdk: Served;
  let bidi: Served;
  let restate: RestateServer | undefined;

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), "gridiron-fetch-adapter-"));
    [gridiron, sdk, bidi] = await Promise.all([serve(tmp, "gridiron"), serve(tmp, "sdk"), serve(tmp, "gridiron", "slowpoke-bidi")]);
    restate = await startRestate({ baseDir: path.join(tmp, "restate") });
  }, 60_000);

  afterAll(async () => {
    await Promise.all([gridiron?.workerd.stop(), sdk?.workerd.stop(), bidi?.workerd.stop(), restate?.stop()]);
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }, 30_000);

  it("build-service reports which adapter each bundle got", () => {
    expect(gridiron.adapter).toBe("gridiron");
    expect(sdk.adapter).toBe("sdk");
  });

  it("answers a quick call in one buffer with Content-Length; the SDK's adapter streams it", async () => {
    const [a, b] = await Promise.all([invoke(gridiron, "quick", "Ana"), invoke(sdk, "quick", "Ana")]);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(a.headers.get("content-length")).toBe(String(a.body.length));
    expect(a.headers.get("transfer-encoding")).toBeNull();
    expect(b.headers.get("content-length")).toBeNull();
    // Same answer either way: the output, then the end of the attempt.
    expect(messageTypes(a.body)).toEqual([OUTPUT, END]);
    expect(messageTypes(b.body)).toEqual([OUTPUT, END]);
    expect(text(a.body)).toContain('"quick Ana"');
    expect(a.headers.get("content-type")).toBe(b.headers.get("content-type"));
    expect(a.headers.get("x-restate-server")).toBe(b.headers.get("x-restate-server"));
  });

  it("answers /discover in one buffer too, with the same manifest", async () => {
    const accept = { accept: "application/vnd.restate.endpointmanifest.v3+json" };
    const [a, b] = await Promise.all([fetch(`${gridiron.base}/discover`, { headers: accept }), fetch(`${sdk.base}/discover`, { headers: accept })]);
    expect(a.status).toBe(200);
    expect(a.headers.get("content-length")).not.toBeNull();
    expect(await a.json()).toEqual(await b.json());
  });

  it("streams a call still running after the hold-back time, and the answer is complete", async () => {
    const r = await invoke(gridiron, "slow", 600);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-length")).toBeNull();
    expect(messageTypes(r.body)).toEqual([OUTPUT, END]);
    expect(text(r.body)).toContain('"slept 600 ms"');
  });

  it("hands a bidirectional endpoint to the SDK's own adapter", async () => {
    expect(bidi.adapter).toBe("gridiron");
    const discover = await fetch(`${bidi.base}/discover`, { headers: { accept: "application/vnd.restate.endpointmanifest.v3+json" } });
    expect(((await discover.json()) as { protocolMode?: string }).protocolMode).toBe("BIDI_STREAM");
    const r = await invoke(bidi, "quick", "Ana");
    expect(r.status).toBe(200);
    // Streamed by the SDK's adapter: no Content-Length, even for an answer that is ready at once.
    expect(r.headers.get("content-length")).toBeNull();
    expect(messageTypes(r.body)).toEqual([OUTPUT, END]);
    expect(text(r.body)).toContain('"quick Ana"');
  });

  it("passes a terminal error through unchanged", async () => {
    const [a, b] = await Promise.all([invoke(gridiron, "fail", "nope"), invoke(sdk, "fail", "nope")]);
    expect(a.status).toBe(b.status);
    expect(messageTypes(a.body)).toEqual(messageTypes(b.body));
    expect(messageTypes(a.body)).not.toContain(ERROR);
    expect(text(a.body)).toContain("failed: nope");
  });

  it("serves quick, slow and multi-step calls through a real restate-server", async () => {
    const r = restate!;
    await registerDeployment(r.adminUrl, `${gridiron.base}/`);
    const quick = await callIngress(r.ingressUrl, "/Slowpoke/quick", "Bo");
    expect(quick).toMatchObject({ status: 200, json: "quick Bo" });
    const [slow, steps] = await Promise.all([callIngress(r.ingressUrl, "/Slowpoke/slow", 500), callIngress(r.ingressUrl, "/Slowpoke/steps", 500)]);
    expect(slow).toMatchObject({ status: 200, json: "slept 500 ms" });
    expect(steps).toMatchObject({ status: 200, json: "one two" });
    const fail = await callIngress(r.ingressUrl, "/Slowpoke/fail", "no");
    expect(fail.status).toBe(409);
    expect(fail.body).toContain("failed: no");
  }, 60_000);
});
