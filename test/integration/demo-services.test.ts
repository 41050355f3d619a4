/**
 * The demo services, bundled by scripts/build-service, run in a real workerd behind a real
 * restate-server: build → serve (capnp text config, this test only) → register → call via ingress.
 * The same for a wrangler-shaped copy of the greeter bundle.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildService } from "../../reconciler/build/service.ts";
import { makeWranglerShapedBundle, writeBrokenBundle } from "../helpers/bundles.ts";
import { callIngress, registerDeployment, startRestate, tail, type RestateServer } from "../helpers/restate.ts";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const WORKERD_BIN = path.join(REPO_ROOT, "node_modules", ".bin", "workerd");
const GREETING_TAIL = "Greetings from Gridiron (workerd).";

interface WorkerSpec {
  /** workerd service name and socket name. */
  name: string;
  /** Bundle directory: index.js (or the manifest's main), *.wasm, anything else is ignored. */
  dir: string;
  /** Text bindings (the worker's `env`). */
  bindings?: Record<string, string>;
}

interface Workerd {
  pid: number;
  /** Socket name → `http://127.0.0.1:<port>/`. */
  urls: Record<string, string>;
  logFile: string;
  stop(): Promise<void>;
}

const capnpString = (s: string): string => JSON.stringify(s);

/** Modules of a bundle dir as workerd sees them: main first, then other JS, then wasm by file name. */
async function bundleModules(dir: string): Promise<{ name: string; kind: "esModule" | "wasm" }[]> {
  let main = "index.js";
  try {
    const manifest = JSON.parse(await readFile(path.join(dir, "gridiron.json"), "utf8")) as { main?: string };
    if (manifest.main) main = manifest.main;
  } catch {
    // no manifest: defaults
  }
  const files = (await readdir(dir)).sort();
  if (!files.includes(main)) throw new Error(`${dir} has no ${main}`);
  return [
    { name: main, kind: "esModule" as const },
    ...files.filter((f) => f !== main && /\.m?js$/.test(f)).map((name) => ({ name, kind: "esModule" as const })),
    ...files.filter((f) => f.endsWith(".wasm")).map((name) => ({ name, kind: "wasm" as const })),
  ];
}

/** Writes a capnp text config serving each worker on its own socket (named like the worker). */
async function writeWorkerdConfig(configFile: string, workers: WorkerSpec[]): Promise<void> {
  const configDir = path.dirname(configFile);
  const services: string[] = [];
  const sockets: string[] = [];
  for (const w of workers) {
    const modules = (await bundleModules(w.dir)).map((m) => {
      const rel = path.relative(configDir, path.join(w.dir, m.name)).split(path.sep).join("/");
      return `(name = ${capnpString(m.name)}, ${m.kind} = embed ${capnpString(rel)})`;
    });
    const bindings = Object.entries(w.bindings ?? {}).map(
      ([k, v]) => `(name = ${capnpString(k)}, text = ${capnpString(v)})`,
    );
    services.push(
      `(name = ${capnpString(w.name)}, worker = (\n` +
        `      modules = [${modules.join(", ")}],\n` +
        `      compatibilityDate = "2026-11-01",\n` +
        `      compatibilityFlags = [],\n` +
        `      bindings = [${bindings.join(", ")}],\n` +
        `    ))`,
    );
    sockets.push(`(name = ${capnpString(w.name)}, address = "127.0.0.1:0", http = (), service = ${capnpString(w.name)})`);
  }
  const text =
    `using Workerd = import "/workerd/workerd.capnp";\n\n` +
    `const config :Workerd.Config = (\n` +
    `  services = [\n    ${services.join(",\n    ")}\n  ],\n` +
    `  sockets = [\n    ${sockets.join(",\n    ")}\n  ],\n` +
    `);\n`;
  await writeFile(configFile, text);
}

/**
 * Starts workerd on 127.0.0.1:0 sockets and resolves once every socket reported its port on the
 * control fd (`{"event":"listen","socket":name,"port":N}` lines on fd 3). Rejects if workerd exits first.
 */
async function startWorkerd(workDir: string, workers: WorkerSpec[], timeoutMs = 20_000): Promise<Workerd> {
  const configFile = path.join(workDir, "config.capnp");
  await writeWorkerdConfig(configFile, workers);
  const logFile = path.join(workDir, "workerd.log");
  const logFd = openSync(logFile, "a");
  const args = ["serve", configFile, "--control-fd=3"];
  for (const w of workers) args.push("--socket-addr", `${w.name}=127.0.0.1:0`);
  let child: ChildProcess;
  try {
    child = spawn(WORKERD_BIN, args, { cwd: workDir, stdio: ["ignore", logFd, logFd, "pipe"] });
  } finally {
    closeSync(logFd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error("could not spawn workerd");
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  };

  const urls: Record<string, string> = {};
  const control = createInterface({ input: child.stdio[3] as Readable });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`workerd did not listen within ${timeoutMs} ms:\n${tail(logFile)}`)),
        timeoutMs,
      );
      const done = (err?: Error): void => {
        clearTimeout(timer);
        child.off("exit", onExit);
        if (err) reject(err);
        else resolve();
      };
      const onExit = (code: number | null, signal: string | null): void =>
        done(new Error(`workerd exited (${code ?? signal}) before listening:\n${tail(logFile)}`));
      child.once("exit", onExit);
      control.on("line", (line) => {
        let msg: { event?: string; socket?: string; port?: number };
        try {
          msg = JSON.parse(line) as typeof msg;
        } catch {
          return;
        }
        if (msg.event === "listen" && msg.socket !== undefined && msg.port !== undefined) {
          urls[msg.socket] = `http://127.0.0.1:${msg.port}/`;
          if (workers.every((w) => urls[w.name] !== undefined)) done();
        }
      });
    });
  } catch (err) {
    control.close();
    await stop();
    throw err;
  }
  return { pid, urls, logFile, stop };
}

describe("demo services in workerd behind restate-server", () => {
  let tmp: string;
  let restate: RestateServer | undefined;
  const workerds: Workerd[] = [];
  let greeterDir: string;
  let counterDir: string;

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), "gridiron-demo-"));
    const bundles = path.join(tmp, "bundles");
    [{ dir: greeterDir }, { dir: counterDir }] = await Promise.all([
      buildService("greeter", bundles),
      buildService("counter", bundles),
    ]);
    restate = await startRestate({ baseDir: path.join(tmp, "restate") });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(workerds.map((w) => w.stop()));
    await restate?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }, 30_000);

  it("build-service emits index.js, its source map, the wasm it imports by relative name, and gridiron.json", async () => {
    const files = (await readdir(greeterDir)).sort();
    expect(files).toHaveLength(4);
    const wasm = files.find((f) => f.endsWith(".wasm"));
    expect(wasm).toMatch(/^sdk_shared_core_wasm_bindings_bg-[A-Z0-9]{8}\.wasm$/);
    expect(files).toEqual(["gridiron.json", "index.js", "index.js.map", wasm].sort());
    const js = await readFile(path.join(greeterDir, "index.js"), "utf8");
    expect(js).toContain(`from "./${wasm}"`);
    expect(JSON.parse(await readFile(path.join(greeterDir, "gridiron.json"), "utf8"))).toEqual({
      name: "greeter",
      main: "index.js",
      compatibilityDate: "2026-11-01",
      compatibilityFlags: [],
    });
  });

  it("serves Greeter and Counter through Restate ingress", async () => {
    const r = restate!;
    const workerd = await startWorkerd(await mkdtempIn(tmp, "workerd-"), [
      { name: "greeter", dir: greeterDir },
      { name: "counter", dir: counterDir },
    ]);
    workerds.push(workerd);

    const g = await registerDeployment(r.adminUrl, workerd.urls.greeter!);
    expect(g.services.map((s) => s.name)).toEqual(["Greeter"]);
    const c = await registerDeployment(r.adminUrl, workerd.urls.counter!);
    expect(c.services.map((s) => s.name)).toEqual(["Counter"]);

    // No body at all (what `curl -X POST …/Greeter/greet` sends), then a JSON string.
    const noBody = await callIngress(r.ingressUrl, "/Greeter/greet");
    expect(noBody.status, noBody.body).toBe(200);
    expect(noBody.json).toBe(`Hello, World! ${GREETING_TAIL}`);
    const ana = await callIngress(r.ingressUrl, "/Greeter/greet", "Ana");
    expect(ana.json).toBe(`Hello, Ana! ${GREETING_TAIL}`);

    const key = `k-${process.pid}-${Date.now()}`;
    expect((await callIngress(r.ingressUrl, `/Counter/${key}/add`)).json).toBe(1);
    expect((await callIngress(r.ingressUrl, `/Counter/${key}/add`, 5)).json).toBe(6);
    expect((await callIngress(r.ingressUrl, `/Counter/${key}/get`)).json).toBe(6);
    expect((await callIngress(r.ingressUrl, `/Counter/other-${key}/get`)).json).toBe(0);
    const reset = await callIngress(r.ingressUrl, `/Counter/${key}/reset`);
    expect(reset.status, reset.body).toBe(200);
    expect((await callIngress(r.ingressUrl, `/Counter/${key}/get`)).json).toBe(0);

    const bad = await callIngress(r.ingressUrl, `/Counter/${key}/add`, "lots");
    expect(bad.status, bad.body).toBe(400);
  }, 60_000);

  it("serves a wrangler-shaped bundle (sha1-named wasm, map, README, no manifest) with an env binding", async () => {
    const r = restate!;
    const shaped = await makeWranglerShapedBundle(greeterDir, path.join(tmp, "wrangler", "greeter"));
    expect(shaped.wasmModules).toHaveLength(1);
    const wasm = shaped.wasmModules[0]!;
    expect(wasm).toMatch(/^[0-9a-f]{40}-sdk_shared_core_wasm_bindings_bg\.wasm$/);
    expect(shaped.files).toEqual(["README.md", "index.js", "index.js.map", wasm].sort());
    expect(await readFile(path.join(shaped.dir, "index.js"), "utf8")).toContain(`from "./${wasm}"`);

    const workerd = await startWorkerd(await mkdtempIn(tmp, "workerd-"), [
      { name: "http", dir: shaped.dir, bindings: { GREETING: "Howdy" } },
    ]);
    workerds.push(workerd);
    const dep = await registerDeployment(r.adminUrl, workerd.urls.http!);
    expect(dep.services.map((s) => s.name)).toEqual(["Greeter"]);

    // This deployment is now Greeter's latest revision, so new invocations go to it.
    const res = await callIngress(r.ingressUrl, "/Greeter/greet", "Ana");
    expect(res.status, res.body).toBe(200);
    expect(res.json).toBe(`Howdy, Ana! ${GREETING_TAIL}`);
  }, 60_000);

  it("workerd refuses a broken bundle (writeBrokenBundle)", async () => {
    const dir = await writeBrokenBundle(path.join(tmp, "broken"), "broken");
    expect((await readdir(dir)).sort()).toEqual(["gridiron.json", "index.js"]);
    await expect(startWorkerd(await mkdtempIn(tmp, "workerd-"), [{ name: "broken", dir }])).rejects.toThrow(
      /exited/,
    );
  }, 30_000);
});

async function mkdtempIn(parent: string, prefix: string): Promise<string> {
  return mkdtemp(path.join(parent, prefix));
}
