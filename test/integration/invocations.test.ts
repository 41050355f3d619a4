// Invocations in trouble on one real mesh, as a user meets them: a handler that throws makes
// `gridiron call` say why it has no answer (id, attempt, the thrown message), `gridiron status`
// and `gridiron invocations` list it with the command that ends it, `gridiron kill` ends it; a
// failing invocation that holds up the removal of a service says so and how to end it; an object
// called without a key and a handler called with the wrong content type get explanations.
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildService } from "../../reconciler/build/service.ts";
import type { Status } from "../../reconciler/reconcile/status.ts";
import { ALLOW_EMPTY_FILE } from "../../reconciler/source/desired.ts";
import { GRIDIRON_BIN, REPO, allocatePorts, meshEnv, startGridiron, waitFor, type MeshPorts, type RunningMesh } from "../helpers/mesh.ts";
import { tearDownMesh } from "../helpers/teardown.ts";

const FIXTURES = path.join(REPO, "test/fixtures/services");
const INVOCATION_ID = /inv_[0-9A-Za-z]+/;

let root: string;
let dataDir: string;
let bundlesDir: string;
let ports: MeshPorts;
let mesh: RunningMesh | undefined;

function gridiron(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [GRIDIRON_BIN, ...args], { cwd: REPO, env: meshEnv(dataDir, bundlesDir, ports), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

const faulty = (s: Status) => s.services.find((svc) => svc.service === "faulty");
const troubleOf = (s: Status, id: string) => faulty(s)?.versions.flatMap((v) => (v.trouble ?? []).map((t) => ({ ...t, version: v.version, versionState: v.state }))).find((t) => t.id === id);

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "gridiron-invocations-"));
  dataDir = path.join(root, "data");
  bundlesDir = path.join(root, "bundles");
  ports = await allocatePorts();
  await buildService("faulty", bundlesDir, { servicesDir: FIXTURES });
  mesh = await startGridiron({ dataDir, bundlesDir, ports, logFile: path.join(root, "gridiron.log"), env: { GRIDIRON_DRAIN_GRACE_MS: "300" } });
  await waitFor("faulty to serve", async () => (faulty(await mesh!.status())?.serving ? true : undefined), 60_000);
});

afterAll(() => tearDownMesh(mesh, root, dataDir));

describe("invocations in trouble", () => {
  let id = "";

  it("gridiron call says the invocation is retrying, with its id and the thrown message, and gives up at --timeout", async () => {
    const r = await gridiron(["call", "Faulty/fail", "--string", "boom", "--timeout", "8"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("is retrying");
    expect(r.stderr).toContain("faulty handler failed on boom");
    expect(r.stderr).toContain("no answer from Faulty/fail after 8 s; stopped waiting");
    id = INVOCATION_ID.exec(r.stderr)![0];
    expect(r.stderr).toContain(`gridiron kill ${id}`);
  }, 60_000);

  it("status lists it under its version: attempts, the error with its .ts stack, and the command that ends it", async () => {
    const t = await waitFor("the invocation in status", async () => troubleOf(await mesh!.status(), id));
    expect(t).toMatchObject({ state: "retrying", target: "Faulty/fail", versionState: "serving", resolve: [`gridiron kill ${id}`] });
    expect(t.attempts).toBeGreaterThanOrEqual(2);
    expect(t.lastError?.message).toBe("faulty handler failed on boom");
    expect(t.lastError?.stack).toContain("test/fixtures/services/faulty/index.ts:");

    const text = await gridiron(["status"]);
    expect(text.stdout).toMatch(new RegExp(`retrying\\s+${id}\\s+Faulty/fail\\s+attempt \\d+ failed`));
    expect(text.stdout).toContain("faulty handler failed on boom");
    expect(text.stdout).toContain(`resolve: gridiron kill ${id}`);

    const list = await gridiron(["invocations", "faulty"]);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(`faulty/${t.version}`);
    expect(list.stdout).toContain(id);
    expect(list.stdout).toContain("at Object.fail (test/fixtures/services/faulty/index.ts:");

    const metrics = (await mesh!.http.request(`${mesh!.apiUrl}/metrics`)).text;
    expect(metrics).toContain('gridiron_invocations_in_trouble{service="faulty",state="retrying"} 1');
  }, 60_000);

  it("gridiron kill ends it, and it leaves status", async () => {
    const r = await gridiron(["kill", id]);
    expect(r.stdout.trim()).toBe(`killed ${id}`);
    expect(r.code).toBe(0);
    await waitFor("the killed invocation to leave status", async () => (troubleOf(await mesh!.status(), id) ? undefined : true));
    expect((await gridiron(["invocations"])).stdout).toMatch(/^no invocations in trouble/);
    const again = await gridiron(["kill", id]);
    expect(again.stdout.trim()).toBe(`${id} had already completed: nothing to kill`);
  }, 60_000);

  it("a call to a virtual object without a key explains the key; a wrong content type names the right one", async () => {
    const noKey = await gridiron(["call", "FaultyBox/peek"]);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain("FaultyBox is a virtual object: every call names the key of the object it is for");
    expect(noKey.stderr).toContain("gridiron call FaultyBox/peek <key>");
    expect((await gridiron(["call", "FaultyBox/peek", "lid"])).stdout.trim()).toBe('"box lid"');

    const bytes = await gridiron(["call", "Faulty/bytes", '"abc"']);
    expect(bytes.code).toBe(2);
    expect(bytes.stderr).toContain("Faulty/bytes takes application/octet-stream, and the call sent application/json: send the body as it is with --content-type application/octet-stream");
    expect((await gridiron(["call", "Faulty/bytes", "--content-type", "application/octet-stream", "abcd"])).stdout.trim()).toBe("4");
  }, 60_000);

  it("a failing invocation holding up the removal of a service says so and how to end it; killed, the service goes", async () => {
    const sent = await gridiron(["call", "Faulty/fail", "--string", "late", "--send", "--json"]);
    const late = (JSON.parse(sent.stdout) as { body: { invocationId: string } }).body.invocationId;
    await waitFor("the new invocation to fail", async () => troubleOf(await mesh!.status(), late));

    await writeFile(path.join(bundlesDir, ALLOW_EMPTY_FILE), "");
    await rm(path.join(bundlesDir, "faulty"), { recursive: true });
    const draining = await waitFor("faulty to drain", async () => {
      const svc = faulty(await mesh!.status());
      return svc?.conditions.find((c) => c.type === "Draining" && c.status && c.message.includes(late));
    });
    expect(draining.message).toContain(`${late} is failing`);
    expect(draining.message).toContain("faulty handler failed on late");
    expect(draining.message).toContain(`end it with 'gridiron kill ${late}'`);
    const text = (await gridiron(["status"])).stdout;
    expect(text).toMatch(/faulty {2}\[Draining\] {2}removed from the source; v-\w+ drains/);
    expect(text).toContain(`resolve: gridiron kill ${late}`);

    expect((await gridiron(["kill", late])).code).toBe(0);
    await waitFor("faulty to be removed", async () => (faulty(await mesh!.status()) ? undefined : true), 30_000);
  }, 90_000);
});
