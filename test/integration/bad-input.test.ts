// The bad input corpus: every kind of broken bundle is refused with a specific reason in status
// and in the log, while the version that serves keeps answering throughout (a client loop runs
// for the whole corpus and must see no failure).
import { cp, mkdir, mkdtemp, readFile, readdir, rename, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildService } from "../../reconciler/build/service.ts";
import { REPO, allocatePorts, startGridiron, waitFor, type MeshPorts, type RunningMesh } from "../helpers/mesh.ts";
import { tearDownMesh } from "../helpers/teardown.ts";
import { replaceDir } from "../helpers/bundles.ts";

let root: string;
let dataDir: string;
let bundlesDir: string;
let ports: MeshPorts;
let mesh: RunningMesh;
let good: string;
let wasmName: string;
let stop = false;
let loop: Promise<void>;
const failures: string[] = [];
let calls = 0;

type Files = Record<string, string | Uint8Array | { symlink: string } | { dir: true }>;

const MANIFEST = (extra: Record<string, unknown> = {}) => JSON.stringify({ name: "greeter", main: "index.js", ...extra });
const DISCOVER_ONLY = (manifest: unknown) =>
  `export default { fetch(req) { if (new URL(req.url).pathname.endsWith("/discover")) return new Response(${JSON.stringify(JSON.stringify(manifest))}, { headers: { "content-type": "application/vnd.restate.endpointmanifest.v3+json" } }); return new Response("no", { status: 404 }); } };`;

/** Writes `files` as bundle `name` into the bundles folder, replacing what was there, in one rename. */
async function drop(name: string, files: Files): Promise<void> {
  const staging = await mkdtemp(path.join(root, "stage-"));
  const dir = path.join(staging, "b");
  await mkdir(dir);
  for (const [rel, content] of Object.entries(files)) {
    const target = path.join(dir, rel);
    await mkdir(path.dirname(target), { recursive: true });
    if (typeof content === "object" && "symlink" in content) await symlink(content.symlink, target);
    else if (typeof content === "object" && "dir" in content) await mkdir(target, { recursive: true });
    else await writeFile(target, content);
  }
  await replaceDir(dir, path.join(bundlesDir, name));
}

async function goodFiles(): Promise<Record<string, Uint8Array>> {
  const out: Record<string, Uint8Array> = {};
  for (const f of await readdir(good)) out[f] = new Uint8Array(await readFile(path.join(good, f)));
  return out;
}

interface Case {
  kind: string;
  /** Bundle directory to write (default greeter). */
  dir?: string;
  files: () => Promise<Files> | Files;
  /** Matched against the service's error in status (keyed by `key`, default dir). */
  reason: RegExp;
  key?: string;
}

const js = (code: string): Files => ({ "gridiron.json": MANIFEST(), "index.js": code });

const CASES: Case[] = [
  { kind: "syntax error", files: () => js("export default {"), reason: /SyntaxError/ },
  { kind: "no default export", files: () => js("export const x = 1;"), reason: /default export|discover|handler/i },
  { kind: "default export without fetch", files: () => js("export default { hello() {} };"), reason: /discover|fetch|handler/i },
  { kind: "throws at import", files: () => js('throw new Error("boom at import");'), reason: /boom at import/ },
  { kind: "infinite loop at top level", files: () => js("while (true) {}"), reason: /workerd cannot load it/ },
  { kind: "missing wasm", files: async () => ({ ...js(`import m from "./${wasmName}"; export default { fetch() { return new Response(String(m)); } };`) }), reason: /sdk_shared_core_wasm_bindings_bg-[A-Z0-9]+\.wasm/ },
  { kind: "garbage wasm", files: async () => ({ ...js(`import m from "./junk.wasm"; export default { fetch() { return new Response(String(m)); } };`), "junk.wasm": "this is not wasm" }), reason: /wasm|WebAssembly|compile|magic/i },
  { kind: "wasm under the wrong name", files: async () => { const f = await goodFiles(); const bytes = f[wasmName]!; delete f[wasmName]; return { ...f, "renamed.wasm": bytes }; }, reason: /sdk_shared_core_wasm_bindings_bg-[A-Z0-9]+\.wasm/ },
  { kind: "huge file over the limit", files: async () => ({ ...(await goodFiles()), "big.bin": new Uint8Array(3 * 1024 * 1024) }), reason: /big\.bin is \d+ bytes, over the \d+-byte file limit/ },
  { kind: "thousands of files", files: () => Object.fromEntries([["gridiron.json", MANIFEST()], ["index.js", "export default {}"], ...Array.from({ length: 1200 }, (_, i) => [`many/f${i}.txt`, "x"])]), reason: /too many files/ },
  { kind: "empty bundle", files: () => ({}), reason: /bundle is empty/ },
  { kind: "manifest not JSON", files: () => ({ "gridiron.json": "{ name: greeter", "index.js": "export default {}" }), reason: /gridiron\.json: not valid JSON/ },
  { kind: "manifest with an unknown key", files: () => ({ "gridiron.json": MANIFEST({ compatiblityDate: "2026-11-01" }), "index.js": "x" }), reason: /unknown key "compatiblityDate"/ },
  { kind: "manifest with a wrong type", files: () => ({ "gridiron.json": MANIFEST({ compatibilityFlags: "nodejs_compat" }), "index.js": "x" }), reason: /"compatibilityFlags" must be an array/ },
  { kind: "bad compatibility date", files: () => ({ "gridiron.json": MANIFEST({ compatibilityDate: "2026-13-45" }), "index.js": "x" }), reason: /"compatibilityDate" must be a date/ },
  { kind: "compatibility date in the future", files: async () => ({ ...(await goodFiles()), "gridiron.json": MANIFEST({ compatibilityDate: "2099-01-01" }) }), reason: /workerd cannot load it: (?!.*\[restate\]).*(compatibility date|2099)/i },
  { kind: "unknown compatibility flag", files: async () => ({ ...(await goodFiles()), "gridiron.json": MANIFEST({ compatibilityFlags: ["no_such_flag_xyz"] }) }), reason: /workerd cannot load it: (?!.*\[restate\]).*no_such_flag_xyz/ },
  { kind: "main that is not a module", files: () => ({ "gridiron.json": MANIFEST({ main: "README.md" }), "README.md": "hi" }), reason: /must be an ES module/ },
  { kind: "a directory where a file is expected", files: () => ({ "gridiron.json": MANIFEST(), "index.js/inner.js": "x" }), reason: /main module index\.js not found/ },
  { kind: "name with ..", dir: "a..b", files: () => ({ "index.js": "x" }), reason: /invalid service name "a\.\.b"/ },
  { kind: "name with /", files: () => ({ "gridiron.json": MANIFEST({ name: "a/b" }), "index.js": "x" }), reason: /invalid service name "a\/b"/ },
  { kind: "name with NUL", files: () => ({ "gridiron.json": MANIFEST({ name: "a\u0000b" }), "index.js": "x" }), reason: /invalid service name "a\\u0000b"/ },
  { kind: "name with quotes", dir: "it's", files: () => ({ "index.js": "x" }), reason: /invalid service name "it's"/ },
  { kind: "name with a newline", dir: "a\nb", files: () => ({ "index.js": "x" }), reason: /invalid service name "a\\nb"/ },
  { kind: "unicode look-alike name", dir: "gr\u0435\u0435ter", files: () => ({ "index.js": "x" }), reason: /invalid service name/ },
  { kind: "300-character name", dir: "a".repeat(300).slice(0, 250), files: () => ({ "index.js": "x" }), reason: /invalid service name/ },
  { kind: "version label with ..", files: () => ({ "gridiron.json": MANIFEST({ version: "1..2" }), "index.js": "x" }), reason: /invalid version label "1\.\.2"/ },
  { kind: "file name with a space", files: () => ({ "gridiron.json": MANIFEST(), "index.js": "x", "my file.txt": "x" }), reason: /my file\.txt.*characters outside/ },
  { kind: "symlink to /etc/passwd", files: () => ({ "gridiron.json": MANIFEST(), "index.js": "x", "passwd.txt": { symlink: "/etc/passwd" } }), reason: /symlink passwd\.txt leaves the bundle/ },
  { kind: "symlink outside the bundle", files: () => ({ "gridiron.json": MANIFEST(), "index.js": "x", "up.js": { symlink: path.join(bundlesDir, "counter", "index.js") } }), reason: /symlink up\.js leaves the bundle/ },
  { kind: "discovery lists no services", files: () => js(DISCOVER_ONLY({ protocolMode: "REQUEST_RESPONSE", minProtocolVersion: 5, maxProtocolVersion: 6, services: [] })), reason: /lists no services/ },
  { kind: "discover answers 500", files: () => js('export default { fetch() { throw new Error("handler exploded"); } };'), reason: /\/discover answered 500/ },
  { kind: "not a Restate endpoint", files: () => js('export default { fetch() { return new Response("hello"); } };'), reason: /not a Restate endpoint manifest/ },
  { kind: "a service owned by another bundle", dir: "greeter-copy", key: "greeter-copy", files: async () => ({ ...(await goodFiles()), "gridiron.json": MANIFEST({ name: "greeter-copy" }) }), reason: /provides Restate service "Greeter", which bundle "greeter" already provides/ },
  { kind: "a breaking change without opt-in", files: async () => {
    const out = path.join(root, "lite");
    await buildService("greeter-lite", out, { servicesDir: path.join(REPO, "test/fixtures/services") });
    const files: Files = {};
    for (const f of await readdir(path.join(out, "greeter-lite"))) files[f] = new Uint8Array(await readFile(path.join(out, "greeter-lite", f)));
    files["gridiron.json"] = MANIFEST({ compatibilityDate: "2026-11-01" });
    return files;
  }, reason: /removes handler Greeter\/greetLater/ },
];

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "gridiron-bad-"));
  dataDir = path.join(root, "data");
  bundlesDir = path.join(root, "bundles");
  ports = await allocatePorts();
  await buildService("greeter", path.join(root, "built"));
  await buildService("counter", bundlesDir);
  good = path.join(root, "built", "greeter");
  wasmName = (await readdir(good)).find((f) => f.endsWith(".wasm"))!;
  await cp(good, path.join(bundlesDir, "greeter"), { recursive: true });
  mesh = await startGridiron({
    dataDir, bundlesDir, ports, logFile: path.join(root, "gridiron.log"),
    env: { GRIDIRON_MAX_FILE_BYTES: String(2 * 1024 * 1024), GRIDIRON_VALIDATE_TIMEOUT_MS: "3000" },
  });
  await waitFor("greeter to serve", async () => ((await mesh.status()).services.find((s) => s.service === "greeter")?.serving ? true : undefined));
  loop = (async () => {
    while (!stop) {
      const r = await mesh.call("/Greeter/greet").catch((e: Error) => ({ status: 0, text: e.message, json: undefined }));
      calls++;
      if (r.status !== 200 || !String(r.json).startsWith("Hello, World!")) failures.push(`${r.status} ${r.text}`);
    }
  })();
});

afterAll(async () => {
  stop = true;
  await loop;
  await tearDownMesh(mesh, root, dataDir);
});

describe("bad input corpus", () => {
  it("has at least 30 kinds", () => expect(CASES.length).toBeGreaterThanOrEqual(30));

  it.each(CASES)("$kind: refused with a specific reason, the serving version keeps answering", async (c) => {
    const dir = c.dir ?? "greeter";
    const key = c.key ?? dir;
    const status0 = await mesh.status();
    const before = status0.services.find((s) => s.service === "greeter")!.serving;
    // The previous case's error may match too: wait for this bundle's own reason.
    const previous = status0.services.find((x) => x.service === key)?.error?.message;
    await drop(dir, await c.files());
    const error = await waitFor(`the ${c.kind} error in status`, async () => {
      const s = await mesh.status();
      const e = s.services.find((x) => x.service === key)?.error;
      return e && e.message !== previous && c.reason.test(e.message) ? e : undefined;
    }, 30_000).catch(async (err: Error) => {
      const s = await mesh.status();
      throw new Error(`${err.message}; status has: ${JSON.stringify(s.services.map((x) => [x.service, x.error?.message]))}`);
    });
    expect(error.message).toMatch(c.reason);
    console.log(`${c.kind}: ${error.message.slice(0, 240)}`);
    expect(await readFile(path.join(root, "gridiron.log"), "utf8")).toContain(JSON.stringify(error.message).slice(1, 60));
    expect((await mesh.status()).services.find((s) => s.service === "greeter")!.serving).toBe(before);
    expect((await mesh.call("/Greeter/greet")).json).toMatch(/^Hello, World! /);
    if (dir !== "greeter") await rm(path.join(bundlesDir, dir), { recursive: true, force: true });
  });

  it("the client loop never failed while the corpus was tried", () => {
    expect(calls).toBeGreaterThan(CASES.length);
    expect(failures).toEqual([]);
  });
});
