import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import type { Service, WorkerdConfig } from "../../reconciler/workerd/config.ts";
import { decodeWorkerdConfig, encodeWorkerdConfig } from "../../reconciler/workerd/encode.ts";

const WORKERD = join(import.meta.dirname, "../../node_modules/.bin/workerd");
const DATE = "2026-11-01";
/** The smallest valid wasm module: magic + version, no sections. */
const EMPTY_WASM = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

function fullConfig(diskPath: string): WorkerdConfig {
  const app = (name: string, greeting: string): Service => ({
    name,
    worker: {
      compatibilityDate: DATE,
      compatibilityFlags: ["nodejs_compat", "no_global_navigator"],
      modules: [
        {
          name: "index.js",
          esModule: `import wasm from "./lib/empty.wasm";
import greeting from "./greeting.txt";
import blob from "./blob.bin";
export default {
  async fetch(request, env) {
    return Response.json({
      greeting,
      wasm: wasm instanceof WebAssembly.Module,
      blob: [...new Uint8Array(blob)],
      settings: env.SETTINGS,
    });
  },
};
`,
        },
        { name: "lib/empty.wasm", wasm: EMPTY_WASM },
        { name: "greeting.txt", text: greeting },
        { name: "blob.bin", data: new Uint8Array([1, 2, 3, 255]) },
      ],
      bindings: [{ name: "SETTINGS", json: JSON.stringify({ service: name, n: 1 }) }],
    },
  });
  return {
    services: [
      {
        name: "router",
        worker: {
          compatibilityDate: DATE,
          compatibilityFlags: [],
          modules: [
            {
              name: "router.js",
              esModule: `export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const [, first, ...rest] = url.pathname.split("/");
    const target = { alpha: env.ALPHA, beta: env.BETA, files: env.FILES }[first];
    if (!target) return new Response(env.BANNER + " " + env.ROUTES.join(","), { status: 200 });
    return target.fetch(new URL("/" + rest.join("/"), url), request);
  },
};
`,
            },
          ],
          bindings: [
            { name: "ALPHA", service: "alpha" },
            { name: "BETA", service: "beta" },
            { name: "FILES", service: "files" },
            { name: "ROUTES", json: JSON.stringify(["alpha", "beta", "files"]) },
            { name: "BANNER", text: "gridiron router" },
          ],
          globalOutbound: "internet",
        },
      },
      app("alpha", "hello from alpha"),
      app("beta", "hello from beta"),
      { name: "internet", network: { allow: ["public", "local"], deny: ["10.0.0.0/8"] } },
      { name: "files", disk: { path: diskPath } },
      { name: "scratch", disk: { path: diskPath, writable: true } },
    ],
    sockets: [{ name: "http", http: {}, service: "router" }],
  };
}

describe("encodeWorkerdConfig / decodeWorkerdConfig", () => {
  it("round-trips every supported variant", () => {
    const config = fullConfig("/srv/files");
    config.sockets.push({ name: "admin", address: "127.0.0.1:9999", http: {}, service: "alpha" });
    config.sockets.push({ name: "control", http: {}, service: "router", entrypoint: "control" });
    (config.services[0] as { worker: { bindings: unknown[] } }).worker.bindings.push({ name: "LOADER", workerLoader: {} });
    config.v8Flags = ["--max-semi-space-size=32"];
    const bytes = encodeWorkerdConfig(config);
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(decodeWorkerdConfig(bytes)).toEqual(config);
  });

  it("round-trips a minimal config and omits unset optionals", () => {
    const config: WorkerdConfig = {
      services: [
        { name: "net", network: { allow: ["public"] } },
        { name: "d", disk: { path: "/x" } },
      ],
      sockets: [],
    };
    expect(decodeWorkerdConfig(encodeWorkerdConfig(config))).toEqual(config);
  });

  it("rejects unknown variants and fields, naming the culprit", () => {
    const bad = (services: unknown[]) => () =>
      encodeWorkerdConfig({ services: services as Service[], sockets: [] });
    expect(bad([{ name: "mystery", external: { address: "x" } }])).toThrow(/service "mystery": unknown kind/);
    expect(bad([{ name: "two", network: { allow: [] }, disk: { path: "/" } }])).toThrow(/service "two": more than one kind/);
    const worker = fullConfig("/x").services[1]!;
    if (!("worker" in worker)) throw new Error("fixture");
    const withModule = (m: unknown) => ({ ...worker, worker: { ...worker.worker, modules: [m] } });
    expect(bad([withModule({ name: "m.py", pythonModule: "print(1)" })])).toThrow(
      /service "alpha", module "m.py": unknown kind/,
    );
    expect(bad([withModule({ name: "w.wasm", wasm: "not bytes" })])).toThrow(/module "w.wasm": expected a Uint8Array/);
    expect(bad([{ ...worker, worker: { ...worker.worker, durableObjectNamespaces: [] } }])).toThrow(
      /service "alpha": unknown field durableObjectNamespaces/,
    );
    expect(() =>
      encodeWorkerdConfig({ services: [], sockets: [{ name: "s", address: "", http: {}, service: "x" }] }),
    ).toThrow(/socket "s": address is empty/);
  });
});

// --- The real binary -----------------------------------------------------------------------------

interface Running {
  child: ChildProcess;
  port: number;
}

let running: ChildProcess | undefined;
let tempDir: string | undefined;

afterEach(async () => {
  const child = running;
  running = undefined;
  if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    process.kill(child.pid, "SIGKILL");
    await exited;
  }
  if (tempDir) await rm(tempDir, { recursive: true, force: true });
  tempDir = undefined;
});

/** Starts `workerd serve --binary` on the encoded config; resolves on the control-fd listen event. */
async function serve(config: WorkerdConfig): Promise<Running> {
  tempDir ??= await mkdtemp(join(tmpdir(), "gridiron-encode-"));
  const file = join(tempDir, "config.bin");
  await writeFile(file, encodeWorkerdConfig(config));
  const child = spawn(
    WORKERD,
    ["serve", "--binary", file, "--socket-addr", "http=127.0.0.1:0", "--control-fd=3"],
    { stdio: ["ignore", "pipe", "pipe", "pipe"] },
  );
  running = child;
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const control = createInterface({ input: child.stdio[3] as Readable });
  const port = await new Promise<number>((resolve, reject) => {
    control.on("line", (line) => {
      let event: { event?: string; socket?: string; port?: number };
      try {
        event = JSON.parse(line) as typeof event;
      } catch {
        return;
      }
      if (event.event === "listen" && event.socket === "http" && typeof event.port === "number") resolve(event.port);
    });
    child.once("error", reject);
    child.once("exit", (code, signal) =>
      reject(new Error(`workerd exited (${code ?? signal}) before listening:\n${output}`)),
    );
  });
  return { child, port };
}

describe("workerd serve --binary", () => {
  it("serves an ES module worker", { timeout: 30_000 }, async () => {
    const { port } = await serve({
      services: [
        {
          name: "hello",
          worker: {
            compatibilityDate: DATE,
            compatibilityFlags: [],
            modules: [
              {
                name: "main.js",
                esModule: `export default { fetch() { return new Response("hello from workerd"); } };`,
              },
            ],
            bindings: [],
          },
        },
      ],
      sockets: [{ name: "http", http: {}, service: "hello" }],
    });
    const res = await fetch(`http://127.0.0.1:${port}/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("hello from workerd");
  });

  it("loads wasm/text/data modules, bindings, network and disk services", { timeout: 30_000 }, async () => {
    tempDir = await mkdtemp(join(tmpdir(), "gridiron-encode-"));
    const diskPath = join(tempDir, "files");
    await mkdir(diskPath);
    await writeFile(join(diskPath, "note.txt"), "from disk");

    const { port } = await serve(fullConfig(diskPath));
    const base = `http://127.0.0.1:${port}`;

    const root = await fetch(`${base}/`);
    expect(await root.text()).toBe("gridiron router alpha,beta,files");

    for (const name of ["alpha", "beta"]) {
      const res = await fetch(`${base}/${name}/`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        greeting: `hello from ${name}`,
        wasm: true,
        blob: [1, 2, 3, 255],
        settings: { service: name, n: 1 },
      });
    }

    const file = await fetch(`${base}/files/note.txt`);
    expect(file.status).toBe(200);
    expect(await file.text()).toBe("from disk");
  });
});
