// Security with real servers. First the router alone in a real workerd (every way a request can be
// badly signed), then whole meshes (`gridiron up`) as users run them: Restate's signed calls work
// while direct calls to workerd are refused, bundle code cannot reach loopback services or the host
// filesystem, the API wants its bearer token when asked to, and no secret shows up in logs, status
// or the environment of the servers Gridiron starts.
import { execFileSync, spawnSync } from "node:child_process";
import { createHmac, createPublicKey, randomBytes, type KeyObject } from "node:crypto";
import { cp, lstat, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildService } from "../../reconciler/build/service.ts";
import type { BundleSpec } from "../../reconciler/source/bundle.ts";
import { publicKeyV1 } from "../../reconciler/restate/identity.ts";
import { buildWorkerdConfig, type ServedVersion, type WorkerdPolicy } from "../../reconciler/workerd/build.ts";
import { readRouterModules } from "../../reconciler/workerd/router-source.ts";
import { encodeWorkerdConfig } from "../../reconciler/workerd/encode.ts";
import { startScratchWorkerd, type ScratchWorkerd } from "../../reconciler/workerd/scratch.ts";
import { startGitHttpServer, type GitHttpServer } from "../helpers/git-http.ts";
import { freePort, freePortBlock } from "../helpers/ports.ts";
import { startRestate } from "../helpers/restate.ts";
import { foreignKey, meshKey, signedHeaders } from "../helpers/identity.ts";
import { GRIDIRON_BIN, REPO, TEST_CELLS, TEST_LANES, allocatePorts, meshEnv, processesUnder, startGridiron, waitFor, type MeshPorts, type RunningMesh } from "../helpers/mesh.ts";

const FIXTURES = path.join(REPO, "test/fixtures/services");
const ROUTER_MODULES = await readRouterModules();
const DISCOVER_ACCEPT = { accept: "application/vnd.restate.endpointmanifest.v3+json" };
const silent = pino({ level: "silent" });

let root: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "gridiron-security-"));
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// The router alone

/** A plain worker that reports what reached it, or fetches ?fetch=<url> and reports that. */
const ECHO_SOURCE = `export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const target = url.searchParams.get("fetch");
    if (target) {
      try {
        const res = await fetch(target);
        return Response.json({ ok: true, status: res.status });
      } catch (err) {
        return Response.json({ ok: false, error: String(err) });
      }
    }
    return Response.json({ reached: url.pathname, signed: request.headers.has("x-restate-jwt-v1"), bindings: Object.keys(env) });
  },
};
`;
const ECHO_VERSION = "v-ec0000000001";

function echoVersion(): ServedVersion {
  const spec: BundleSpec = {
    service: "echo", version: ECHO_VERSION, digest: "sha256:" + "0".repeat(64), main: "index.js",
    compatibilityDate: "2026-11-01", compatibilityFlags: [], vars: {}, breaking: false,
    modules: [{ name: "index.js", type: "esModule" }],
  };
  return { spec, files: new Map([["index.js", new TextEncoder().encode(ECHO_SOURCE)]]) };
}

async function startRouter(policy: WorkerdPolicy): Promise<{ url: string; stop(): Promise<void> }> {
  const file = path.join(root, `router-${randomBytes(4).toString("hex")}.bin`);
  await writeFile(file, encodeWorkerdConfig(buildWorkerdConfig([echoVersion()], ROUTER_MODULES, policy)));
  const wd: ScratchWorkerd = await startScratchWorkerd(file, { logger: silent });
  return { url: `http://127.0.0.1:${wd.port}`, stop: () => wd.stop() };
}

describe("the router in a real workerd", () => {
  const trusted = foreignKey();
  const second = foreignKey();
  const stranger = foreignKey();
  const pub = (k: KeyObject) => publicKeyV1(createPublicKey(k));
  let router: { url: string; stop(): Promise<void> };
  const invoke = `/echo/${ECHO_VERSION}/invoke/Greeter/greet`;
  const get = (p: string, headers: Record<string, string> = {}) => fetch(`${router.url}${p}`, { headers });

  beforeAll(async () => {
    router = await startRouter({ identityKeys: [pub(trusted), pub(second)], outbound: "public" });
  });
  afterAll(async () => {
    await router?.stop();
  });

  it("answers /_gridiron/health unsigned", async () => {
    const r = await get("/_gridiron/health");
    expect(r.status).toBe(200);
    expect(await r.text()).toBe("ok\n");
  });

  it("passes a request signed with a trusted key for its own path, headers intact (for SDK-level checks)", async () => {
    for (const key of [trusted, second]) {
      const r = await get(invoke, signedHeaders(key, "/invoke/Greeter/greet"));
      expect(r.status).toBe(200);
      // Its only binding is Gridiron's default var (RESTATE_LOGGING): nothing that reaches anything.
      expect(await r.json()).toEqual({ reached: invoke, signed: true, bindings: ["RESTATE_LOGGING"] });
    }
  });

  it("accepts a deployment URI with more segments than /<service>/<version> (re-registration), as Restate signs it", async () => {
    const r = await get(`/echo/${ECHO_VERSION}/r1x2/invoke/Greeter/greet`, signedHeaders(trusted, "/invoke/Greeter/greet"));
    expect(r.status).toBe(200);
    const d = await get(`/echo/${ECHO_VERSION}/r1x2/discover`, signedHeaders(trusted, "/discover"));
    expect(d.status).toBe(200);
  });

  it("a token accepted once (and remembered) is still refused on another path", async () => {
    const headers = signedHeaders(trusted, "/invoke/Greeter/greet");
    expect((await get(invoke, headers)).status).toBe(200);
    expect((await get(invoke, headers)).status).toBe(200);
    const other = await get(`/echo/${ECHO_VERSION}/invoke/Greeter/greetLater`, headers);
    expect(other.status).toBe(401);
    expect(await other.text()).toMatch(/audience/);
  });

  it("a /discover token does not invoke a handler named discover", async () => {
    const r = await get(`/echo/${ECHO_VERSION}/invoke/Svc/discover`, signedHeaders(trusted, "/discover"));
    expect(r.status).toBe(401);
    expect(await r.text()).toMatch(/audience/);
  });

  const now = () => Math.floor(Date.now() / 1000);
  const refusals: [string, () => Record<string, string>, RegExp][] = [
    ["no signature at all", () => ({}), /not signed/],
    ["scheme 'unsigned'", () => ({ "x-restate-signature-scheme": "unsigned" }), /unsupported signature scheme/],
    ["scheme v1 without a JWT", () => ({ "x-restate-signature-scheme": "v1" }), /missing or not a JWT/],
    ["a JWT that is not one", () => ({ "x-restate-signature-scheme": "v1", "x-restate-jwt-v1": "a.b.c" }), /well-formed/],
    ["a key the mesh does not trust", () => signedHeaders(stranger, "/invoke/Greeter/greet"), /does not trust/],
    ["the token of another path (/discover)", () => signedHeaders(trusted, "/discover"), /audience/],
    ["the token of another handler", () => signedHeaders(trusted, "/invoke/Greeter/greetLater"), /audience/],
    ["the full path as audience", () => signedHeaders(trusted, invoke), /audience/],
    ["an expired token", () => signedHeaders(trusted, "/invoke/Greeter/greet", { nowS: now() - 300 }), /expired/],
    ["a token not valid yet", () => signedHeaders(trusted, "/invoke/Greeter/greet", { nbfS: now() + 120 }), /not valid yet/],
    ["a trusted kid on a stranger's signature", () => forgeKid(signedHeaders(stranger, "/invoke/Greeter/greet"), pub(trusted)), /signature does not verify/],
    ["a tampered payload", () => tamper(signedHeaders(trusted, "/invoke/Greeter/greetLater"), { aud: "/invoke/Greeter/greet" }), /signature does not verify/],
    ["alg none", () => algNone(signedHeaders(trusted, "/invoke/Greeter/greet")), /EdDSA/],
  ];
  it.each(refusals)("refuses %s with 401 before user code runs", async (_label, headers, reason) => {
    const r = await get(invoke, headers());
    const text = await r.text();
    expect(r.status).toBe(401);
    expect(text).toMatch(/^gridiron: unauthorized: /);
    expect(text).toMatch(reason);
    expect(text).not.toContain("reached");
  });

  it("refuses unsigned requests to unknown paths too (nothing about what is served leaks)", async () => {
    expect((await get("/nope/v-000000000000/discover")).status).toBe(401);
    expect((await get("/")).status).toBe(401);
    expect((await get("/nope/v-000000000000/discover", signedHeaders(trusted, "/discover"))).status).toBe(404);
  });

  it("a fresh router answers many concurrent first requests (keys imported per isolate)", async () => {
    const fresh = await startRouter({ identityKeys: [pub(trusted)], outbound: "public" });
    try {
      const statuses = await Promise.all(Array.from({ length: 40 }, (_, i) =>
        fetch(`${fresh.url}/echo/${ECHO_VERSION}/invoke/S/h${i}`, { headers: signedHeaders(trusted, `/invoke/S/h${i}`) }).then(async (r) => (await r.text(), r.status))));
      expect(statuses).toEqual(Array(40).fill(200));
    } finally {
      await fresh.stop();
    }
  });

  it("with verification off (--request-identity=false) anything passes", async () => {
    const open = await startRouter({ identityKeys: null, outbound: "public" });
    try {
      const r = await fetch(`${open.url}${invoke}`);
      expect(r.status).toBe(200);
    } finally {
      await open.stop();
    }
  });

  it.each<[WorkerdPolicy["outbound"], boolean]>([
    ["public", false],
    ["none", false],
    ["all", true],
  ])("outbound %s: a bundle's fetch() to a loopback server is allowed: %s", async (outbound, allowed) => {
    const target = http.createServer((_req, res) => res.end("secret admin data"));
    await new Promise<void>((resolve) => target.listen(0, "127.0.0.1", resolve));
    const port = (target.address() as AddressInfo).port;
    const wd = await startRouter({ identityKeys: [pub(trusted)], outbound });
    try {
      for (const url of [`http://127.0.0.1:${port}/`, `http://localhost:${port}/`, `http://0.0.0.0:${port}/`, `http://[::ffff:127.0.0.1]:${port}/`, `http://2130706433:${port}/`]) {
        const r = await fetch(`${wd.url}/echo/${ECHO_VERSION}/x?fetch=${encodeURIComponent(url)}`, { headers: signedHeaders(trusted, "/x") });
        const body = (await r.json()) as { ok: boolean };
        expect(body.ok, `${outbound}: ${url}`).toBe(allowed);
      }
    } finally {
      await wd.stop();
      target.close();
    }
  });
});

// Small JWT surgery for the refusal table.
function parts(h: Record<string, string>): [string, string, string] {
  return h["x-restate-jwt-v1"]!.split(".") as [string, string, string];
}
const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
const dec = (s: string) => JSON.parse(Buffer.from(s, "base64url").toString()) as Record<string, unknown>;
function forgeKid(h: Record<string, string>, kid: string): Record<string, string> {
  const [head, payload, sig] = parts(h);
  return { ...h, "x-restate-jwt-v1": `${enc({ ...dec(head), kid })}.${payload}.${sig}` };
}
function tamper(h: Record<string, string>, claims: Record<string, unknown>): Record<string, string> {
  const [head, payload, sig] = parts(h);
  return { ...h, "x-restate-jwt-v1": `${head}.${enc({ ...dec(payload), ...claims })}.${sig}` };
}
function algNone(h: Record<string, string>): Record<string, string> {
  const [head, payload] = parts(h);
  return { ...h, "x-restate-jwt-v1": `${enc({ ...dec(head), alg: "none" })}.${payload}.` };
}

// ---------------------------------------------------------------------------------------------
// Whole meshes

interface MeshUnderTest {
  mesh: RunningMesh;
  dataDir: string;
  ports: MeshPorts;
  logFile: string;
}

const gitEnv = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^GIT_/i.test(k))), LC_ALL: "C" };
const serving = async (m: RunningMesh, service: string, headers: Record<string, string> = {}) => {
  const r = await m.http.request(`${m.apiUrl}/status`, { headers });
  if (r.status !== 200) return undefined;
  const s = JSON.parse(r.text) as { services: { service: string; serving?: string }[] };
  return s.services.find((x) => x.service === service)?.serving;
};

describe("a mesh with the defaults (loopback, signed requests, outbound public)", () => {
  let a: MeshUnderTest;
  let bundlesDir: string;

  beforeAll(async () => {
    const dir = path.join(root, "a");
    bundlesDir = path.join(dir, "bundles");
    await buildService("greeter", bundlesDir);
    await buildService("prober", bundlesDir, { servicesDir: FIXTURES });
    const ports = await allocatePorts();
    const dataDir = path.join(dir, "data");
    const logFile = path.join(dir, "gridiron.log");
    a = { mesh: await startGridiron({ dataDir, bundlesDir, ports, logFile }), dataDir, ports, logFile };
    await waitFor("greeter and prober to serve", async () => ((await serving(a.mesh, "greeter")) && (await serving(a.mesh, "prober")) ? true : undefined), 60_000);
  });
  afterAll(async () => {
    await a?.mesh.stop();
    if (a) expect(await processesUnder(a.dataDir)).toEqual([]);
  });

  it("calls through Restate ingress work: Restate signs them with the mesh's key", async () => {
    const r = await a.mesh.call("/Greeter/greet", "Ana");
    expect(r.status).toBe(200);
    expect(r.json).toMatch(/^Hello, Ana! /);
  });

  it("a request straight to workerd is refused unless signed with the mesh's key, for its own path", async () => {
    const version = (await serving(a.mesh, "greeter"))!;
    const cell = await a.mesh.cellUrl("greeter");
    const url = `${cell}/greeter/${version}/invoke/Greeter/greet`;
    const post = (headers: Record<string, string>) =>
      a.mesh.http.request(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: '"Mallory"' });
    const unsigned = await post({});
    expect(unsigned.status).toBe(401);
    expect(unsigned.text).toMatch(/^gridiron: unauthorized: request is not signed/);
    const foreign = await post(signedHeaders(foreignKey(), "/invoke/Greeter/greet"));
    expect(foreign.status).toBe(401);
    expect(foreign.text).toMatch(/does not trust/);
    const wrongPath = await post(signedHeaders(meshKey(a.dataDir), "/discover"));
    expect(wrongPath.status).toBe(401);
    // The same key and path Restate would use gets through to the SDK (which then wants its own
    // protocol framing; what matters is that the router let it pass).
    const discover = await a.mesh.http.request(`${cell}/greeter/${version}/discover`, { headers: { ...DISCOVER_ACCEPT, ...signedHeaders(meshKey(a.dataDir), "/discover") } });
    expect(discover.status).toBe(200);
    expect(discover.text).toContain('"Greeter"');
    // Health stays open for probes.
    expect((await a.mesh.http.request(`${cell}/_gridiron/health`)).status).toBe(200);
  });

  it("the key pair lives in <data>/identity: private key 0600 in a 0700 dir, public key as publickeyv1_", async () => {
    const dir = path.join(a.dataDir, "identity");
    expect((await lstat(dir)).mode & 0o777).toBe(0o700);
    expect((await lstat(path.join(dir, "private.pem"))).mode & 0o777).toBe(0o600);
    expect((await lstat(path.join(a.dataDir, "api-token"))).mode & 0o777).toBe(0o600);
    const publicKey = (await readFile(path.join(dir, "public-key"), "utf8")).trim();
    expect(publicKey).toBe(publicKeyV1(createPublicKey(meshKey(a.dataDir))));
    // The log says which key is in use (the public one only).
    expect(await readFile(a.logFile, "utf8")).toContain(publicKey);
  });

  it("bundle code cannot reach loopback services (Restate admin, the API) with fetch()", async () => {
    for (const url of [`http://127.0.0.1:${a.ports.admin}/deployments`, `http://localhost:${a.ports.api}/status`, `http://127.0.0.1:${a.ports.workerd}/_gridiron/health`]) {
      const r = await a.mesh.call("/Prober/fetch", url);
      expect(r.status).toBe(200);
      expect(r.json, url).toMatchObject({ ok: false });
    }
  });

  it("bundle code sees no host filesystem and no binding but its own vars", async () => {
    const passwd = await a.mesh.call("/Prober/readFile", "/etc/passwd");
    expect(passwd.status).toBe(200);
    expect(passwd.json).toMatchObject({ ok: false });
    const key = await a.mesh.call("/Prober/readFile", path.join(a.dataDir, "identity", "private.pem"));
    expect(key.json).toMatchObject({ ok: false });
    const listing = (await a.mesh.call("/Prober/listDir", "/")).json as { ok: boolean; entries?: string[] };
    console.log(`what a bundle sees at / : ${JSON.stringify(listing)}`);
    for (const hostDir of ["etc", "home", "proc", "root", "usr", "var", "work"]) expect(listing.entries ?? []).not.toContain(hostDir);
    expect((await a.mesh.call("/Prober/env")).json).toEqual({ bindings: ["RESTATE_LOGGING"], verifiesSignatures: false });
  });

  it("the API answers without a token on loopback (no --require-api-token)", async () => {
    expect((await a.mesh.http.request(`${a.mesh.apiUrl}/status`)).status).toBe(200);
  });

  it("a bundle can verify the signatures itself too (the SDK's identityKeys with <data>/identity/public-key)", async () => {
    const publicKey = (await readFile(path.join(a.dataDir, "identity", "public-key"), "utf8")).trim();
    const before = (await serving(a.mesh, "prober"))!;
    const staging = path.join(root, "a-staging");
    await buildService("prober", staging, { servicesDir: FIXTURES, define: { "process.env.IDENTITY_KEY": JSON.stringify(publicKey) } });
    await rm(path.join(bundlesDir, "prober"), { recursive: true });
    await cp(path.join(staging, "prober"), path.join(bundlesDir, "prober"), { recursive: true });
    // Gridiron's own /discover on the scratch workerd and Restate's discovery and calls all pass the SDK's check.
    await waitFor("the verifying prober to serve", async () => {
      const v = await serving(a.mesh, "prober");
      return v && v !== before ? v : undefined;
    }, 60_000);
    expect((await a.mesh.call("/Prober/env")).json).toEqual({ bindings: ["RESTATE_LOGGING"], verifiesSignatures: true });
  });
});

describe("a mesh with --require-api-token, outbound all, a git remote behind a token and a webhook secret", () => {
  let b: MeshUnderTest;
  let git: GitHttpServer;
  const webhookSecret = `whsec-${randomBytes(12).toString("hex")}`;
  const gitToken = `ghp_${randomBytes(16).toString("hex")}`;
  let apiToken: string;
  const auth = () => ({ authorization: `Bearer ${apiToken}` });

  beforeAll(async () => {
    const dir = path.join(root, "b");
    const remotes = path.join(dir, "remotes");
    const work = path.join(dir, "work");
    await mkdir(remotes, { recursive: true });
    execFileSync("git", ["init", "-q", "--bare", path.join(remotes, "deploy.git")], { env: gitEnv });
    await buildService("greeter", path.join(work, "bundles"));
    await buildService("prober", path.join(work, "bundles"), { servicesDir: FIXTURES });
    const g = (...args: string[]) => execFileSync("git", ["-c", "user.name=T", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main", ...args], { cwd: work, env: gitEnv, stdio: "ignore" });
    g("init", "-q");
    g("add", "-A");
    g("commit", "-qm", "greeter and prober");
    g("push", "-q", path.join(remotes, "deploy.git"), "HEAD:main");
    git = await startGitHttpServer({ projectRoot: remotes, token: gitToken });
    const ports = await allocatePorts();
    const dataDir = path.join(dir, "data");
    const logFile = path.join(dir, "gridiron.log");
    const mesh = await startGridiron({
      dataDir, bundlesDir: path.join(dir, "unused"), ports, logFile,
      args: ["--git", `${git.url}/deploy.git`, "--branch", "main", "--path", "bundles"],
      env: {
        GRIDIRON_OUTBOUND: "all", GRIDIRON_REQUIRE_API_TOKEN: "true",
        GRIDIRON_WEBHOOK_SECRET: webhookSecret, GRIDIRON_GIT_TOKEN: gitToken,
        GRIDIRON_GIT_FETCH_MS: "600000", GRIDIRON_RESYNC_MS: "600000",
      },
    });
    b = { mesh, dataDir, ports, logFile };
    apiToken = (await readFile(path.join(dataDir, "api-token"), "utf8")).trim();
    await waitFor("greeter and prober to serve", async () => ((await serving(mesh, "greeter", auth())) && (await serving(mesh, "prober", auth())) ? true : undefined), 60_000);
  });
  afterAll(async () => {
    await b?.mesh.stop();
    await git?.close();
    if (b) expect(await processesUnder(b.dataDir)).toEqual([]);
  });

  it("the API wants the bearer token on every route but the probes (GET /healthz, /readyz)", async () => {
    const api = b.mesh.apiUrl;
    expect((await b.mesh.http.request(`${api}/healthz`)).status).toBe(200);
    expect((await b.mesh.http.request(`${api}/readyz`)).status).toBe(200);
    for (const [method, route] of [["GET", "/status"], ["GET", "/plan"], ["POST", "/reconcile"], ["GET", "/nope"], ["POST", "/rollback"]] as const) {
      for (const headers of [{}, { authorization: "Bearer wrong-token" } as Record<string, string>, { authorization: `Basic ${Buffer.from(`x:${apiToken}`).toString("base64")}` }]) {
        const r = await b.mesh.http.request(`${api}${route}`, { method, headers });
        expect(r.status, `${method} ${route} ${JSON.stringify(headers)}`).toBe(401);
      }
    }
    expect((await b.mesh.http.request(`${api}/status`, { headers: auth() })).status).toBe(200);
  });

  it("the CLI finds the token in the data dir, or takes GRIDIRON_API_TOKEN", async () => {
    const env = meshEnv(b.dataDir, path.join(root, "b", "unused"), b.ports);
    const ok = spawnSync(process.execPath, [GRIDIRON_BIN, "status", "--json"], { env, encoding: "utf8", timeout: 60_000 });
    expect(JSON.parse(ok.stdout).services.map((s: { service: string }) => s.service).sort()).toEqual(["greeter", "prober"]);
    const wrong = spawnSync(process.execPath, [GRIDIRON_BIN, "status"], { env: { ...env, GRIDIRON_API_TOKEN: "wrong" }, encoding: "utf8", timeout: 60_000 });
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(/wants its bearer token/);
  });

  it("POST /hooks/git needs no bearer token (GitHub cannot send one) but its HMAC", async () => {
    const body = JSON.stringify({ ref: "refs/heads/main" });
    const sign = (secret: string) => `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
    const hook = (signature: string) => b.mesh.http.request(`${b.mesh.apiUrl}/hooks/git`, { method: "POST", headers: { "content-type": "application/json", "x-hub-signature-256": signature }, body });
    expect((await hook(sign("not-the-secret"))).status).toBe(401);
    expect((await hook(sign(webhookSecret))).status).toBe(202);
  });

  it("the git remote got the token (and nobody fetched without it)", async () => {
    expect(git.refused).toBe(0);
    const r = await b.mesh.http.request(`${b.mesh.apiUrl}/status`, { headers: auth() });
    expect((JSON.parse(r.text) as { source: { revision?: string; error?: string } }).source).toMatchObject({ revision: expect.stringMatching(/^main@sha1:/) });
  });

  it("outbound all: bundle code may reach loopback services", async () => {
    const r = await b.mesh.call("/Prober/fetch", `http://127.0.0.1:${b.ports.admin}/deployments`);
    expect(r.json).toMatchObject({ ok: true, status: 200 });
  });

  it("no secret in logs, status, plan, CLI output, or the environment of restate-server and workerd", async () => {
    const secrets: [string, string][] = [
      ["API token", apiToken],
      ["webhook secret", webhookSecret],
      ["git token", gitToken],
      ["git Basic credentials", Buffer.from(`x-access-token:${gitToken}`).toString("base64")],
      ["private key PEM header", "BEGIN PRIVATE KEY"],
      ["private key material", (await readFile(path.join(b.dataDir, "identity", "private.pem"), "utf8")).split("\n")[1]!],
    ];
    const texts: [string, string][] = [
      ["mesh log", await readFile(b.logFile, "utf8")],
      ["GET /status", (await b.mesh.http.request(`${b.mesh.apiUrl}/status`, { headers: auth() })).text],
      ["GET /plan", (await b.mesh.http.request(`${b.mesh.apiUrl}/plan`, { headers: auth() })).text],
      ["gridiron status", spawnSync(process.execPath, [GRIDIRON_BIN, "status"], { env: meshEnv(b.dataDir, path.join(root, "b", "unused"), b.ports), encoding: "utf8" }).stdout],
    ];
    for (const file of await readdir(path.join(b.dataDir, "logs")).catch(() => [])) texts.push([`logs/${file}`, await readFile(path.join(b.dataDir, "logs", file), "utf8")]);
    for (const p of await processesUnder(b.dataDir)) {
      // restate-server and workerd themselves (the daemon was handed the secrets by its launcher).
      if (!/\/(restate-server|workerd)$/.test(p.cmd.split(" ")[0]!)) continue;
      texts.push([`environment of ${p.cmd.slice(0, 60)}`, (await readFile(`/proc/${p.pid}/environ`, "utf8")).split("\0").join("\n")]);
    }
    expect(texts.filter(([what]) => what.startsWith("environment of")).length).toBeGreaterThanOrEqual(2);
    expect(texts[0]![1].length).toBeGreaterThan(1000);
    for (const [what, text] of texts) {
      for (const [name, secret] of secrets) expect(text.includes(secret), `${name} in ${what}`).toBe(false);
    }
  });
});

describe("a mesh using a restate-server it did not start", () => {
  it("says what to configure when that server does not sign with the mesh's key, and registers nothing", async () => {
    const dir = path.join(root, "c");
    const dataDir = path.join(dir, "data");
    const restate = await startRestate({ baseDir: path.join(dir, "restate") });
    // Stopped in `finally` also when the mesh fails to start, so no restate-server outlives the test.
    let mesh: RunningMesh | undefined;
    try {
      const bundlesDir = path.join(dir, "bundles");
      await buildService("greeter", bundlesDir);
      // workerd's cells and lanes listen on consecutive ports.
      const workerd = await freePortBlock(TEST_CELLS + TEST_LANES);
      const api = await freePort();
      const ports: MeshPorts = { ingress: Number(new URL(restate.ingressUrl).port), admin: Number(new URL(restate.adminUrl).port), node: 0, workerd, api };
      const m = (mesh = await startGridiron({ dataDir, bundlesDir, ports, logFile: path.join(dir, "gridiron.log"), env: { GRIDIRON_MANAGE_RESTATE: "false" } }));
      const error = await waitFor("the refusal in status", async () => {
        const s = await m.status();
        return s.lastReconcile?.errors.find((e) => e.code === "REQUEST_IDENTITY_REJECTED");
      }, 60_000);
      expect(error.message).toContain("request-identity-private-key-pem-file");
      expect(await readFile(path.join(dir, "gridiron.log"), "utf8")).toContain(`request-identity-private-key-pem-file = \\"${path.join(dataDir, "identity", "private.pem")}\\"`);
      const deployments = JSON.parse(await (await fetch(`${restate.adminUrl}/deployments`)).text()) as { deployments: unknown[] };
      expect(deployments.deployments).toEqual([]);
    } finally {
      await mesh?.stop();
      await restate.stop();
    }
    expect(await processesUnder(dataDir)).toEqual([]);
  });
});
