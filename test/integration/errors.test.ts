// Errors point at the code and are counted by one rule, on one real mesh: a syntax error names its
// file, line and column; a handler that throws is one log event naming the service, the version,
// the invocation and the .ts line (through build-service's source map); a bad name is counted
// once under its code and makes the pass an error; a removed broken bundle leaves status.
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildService } from "../../reconciler/build/service.ts";
import type { ReconcileResult } from "../../reconciler/reconcile/status.ts";
import { dropBundle, writeBrokenBundle } from "../helpers/bundles.ts";
import { GRIDIRON_BIN, REPO, allocatePorts, meshEnv, startGridiron, waitFor, type MeshPorts, type RunningMesh } from "../helpers/mesh.ts";
import { tearDownMesh } from "../helpers/teardown.ts";

const FIXTURES = path.join(REPO, "test/fixtures/services");
const THROWER_SOURCE = "test/fixtures/services/thrower/index.ts";

let root: string;
let dataDir: string;
let bundlesDir: string;
let ports: MeshPorts;
let mesh: RunningMesh | undefined;

type LogEntry = Record<string, unknown> & { msg?: string };

async function daemonLog(): Promise<LogEntry[]> {
  const text = await readFile(path.join(dataDir, "logs", "gridiron.log"), "utf8").catch(() => "");
  return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l) as LogEntry);
}

async function reconcile(): Promise<ReconcileResult> {
  const r = await mesh!.http.request(`${mesh!.apiUrl}/reconcile`, { method: "POST", timeoutMs: 60_000 });
  return JSON.parse(r.text) as ReconcileResult;
}

async function errorsCounted(code: string): Promise<number> {
  const text = (await mesh!.http.request(`${mesh!.apiUrl}/metrics`)).text;
  const m = new RegExp(`^gridiron_reconcile_errors_total\\{code="${code}"\\} (\\d+)$`, "m").exec(text);
  return m ? Number(m[1]) : 0;
}

const drop = (name: string, write: (staging: string) => Promise<unknown>) => dropBundle(bundlesDir, name, write);

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "gridiron-errors-"));
  dataDir = path.join(root, "data");
  bundlesDir = path.join(root, "bundles");
  ports = await allocatePorts();
  await buildService("thrower", bundlesDir, { servicesDir: FIXTURES });
  mesh = await startGridiron({ dataDir, bundlesDir, ports, logFile: path.join(root, "gridiron.log") });
  await waitFor("thrower to serve", async () => ((await mesh!.status()).services.find((s) => s.service === "thrower")?.serving ? true : undefined), 60_000);
});

afterAll(() => tearDownMesh(mesh, root, dataDir));

describe("errors that point at the code", () => {
  it("a syntax error is refused with its file, line and column", async () => {
    await drop("broken", (staging) => writeBrokenBundle(staging, "broken"));
    const error = await waitFor("broken to be refused", async () => (await mesh!.status()).services.find((s) => s.service === "broken")?.error, 60_000);
    expect(error.code).toBe("VERSION_INVALID");
    expect(error.message).toMatch(/Uncaught SyntaxError/);
    // writeBrokenBundle's `)` is missing on line 3; esbuild stops at the `}` on line 4, column 3.
    expect(error.message).toContain('esbuild: index.js:4:3: Expected ")" but found "}"');
  });

  it("a handler that throws is one log event with the service, version, invocation and the .ts line", async () => {
    const sent = await mesh!.call("/Thrower/ana/boom/send");
    expect(sent.status).toBe(202);
    const invocationId = (sent.json as { invocationId: string }).invocationId;
    const version = (await mesh!.status()).services.find((s) => s.service === "thrower")!.serving!;
    const source = (await readFile(path.join(REPO, THROWER_SOURCE), "utf8")).split("\n");
    const throwLine = source.findIndex((l) => l.includes("throw new Error(`thrower exploded on")) + 1;

    const event = await waitFor("the thrown error in the daemon's log", async () =>
      (await daemonLog()).find((e) => e.invocationId === invocationId && String(e.msg).includes("thrower exploded on ana")), 60_000);
    expect(event).toMatchObject({ component: "workerd", service: "thrower", version, restateService: "Thrower", handler: "boom", key: "ana", invocationId });
    const stack = String(event.stack);
    expect(stack.split("\n")[0]).toBe("Error: thrower exploded on ana");
    expect(stack).toContain(`at explode (${THROWER_SOURCE}:${throwLine}:`);
    expect(stack).toContain(`at Object.boom (${THROWER_SOURCE}:`);
    // No line of the daemon's log is a bare stack frame any more.
    expect((await daemonLog()).filter((e) => /^\s+at /.test(String(e.msg)))).toEqual([]);

    // gridiron logs <service> shows it, with the stack below the line.
    const logs = spawnSync(process.execPath, [GRIDIRON_BIN, "logs", "thrower"], { env: meshEnv(dataDir, bundlesDir, ports), encoding: "utf8", timeout: 30_000 });
    expect(logs.status).toBe(0);
    expect(logs.stdout).toContain("thrower exploded on ana");
    expect(logs.stdout).toContain(`at explode (${THROWER_SOURCE}:${throwLine}:`);
  });

  it("a bad name is counted once under BUNDLE_INVALID, and every pass that sees it is an error", async () => {
    const before = await errorsCounted("BUNDLE_INVALID");
    await drop("Bad_Name", async (staging) => {
      await mkdir(path.join(staging, "Bad_Name"));
      await writeFile(path.join(staging, "Bad_Name", "index.js"), "export default {};\n");
    });
    await waitFor("the bad name to be counted", async () => ((await errorsCounted("BUNDLE_INVALID")) === before + 1 ? true : undefined));
    const pass = await reconcile();
    expect(pass.outcome).toBe("error");
    expect(pass.errors).toContainEqual(expect.objectContaining({ code: "BUNDLE_INVALID", repeated: true, message: expect.stringContaining('invalid service name "Bad_Name"') }));
    expect(await errorsCounted("BUNDLE_INVALID")).toBe(before + 1);
  });

  it("a broken bundle removed from the source leaves status at once, and the passes are clean again", async () => {
    expect((await mesh!.status()).services.map((s) => s.service)).toEqual(expect.arrayContaining(["broken", "Bad_Name"]));
    await rm(path.join(bundlesDir, "broken"), { recursive: true });
    await rm(path.join(bundlesDir, "Bad_Name"), { recursive: true });
    const pass = await reconcile();
    expect(pass.errors).toEqual([]);
    expect(["ok", "noop"]).toContain(pass.outcome);
    const status = await mesh!.status();
    expect(status.services.map((s) => s.service)).toEqual(["thrower"]);
  });
});
