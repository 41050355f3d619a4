// Notifications on a real mesh (--notify-url): a receiver on loopback gets a signed deploy event for
// each new version and a version.failed event for a bundle workerd refuses; the signature checks
// with the mesh's secret and not with another.
import { cp, mkdtemp, readFile, rename, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyHubSignature } from "../../reconciler/api/webhook.ts";
import { buildService } from "../../reconciler/build/service.ts";
import { dropBundle, writeBrokenBundle } from "../helpers/bundles.ts";
import { REPO, allocatePorts, startGridiron, type RunningMesh } from "../helpers/mesh.ts";
import type { Notification } from "../../reconciler/node/notify.ts";
import { startNotifyReceiver, type NotifyReceiver } from "../helpers/notify-receiver.ts";
import { tearDownMesh } from "../helpers/teardown.ts";

const SECRET = "the receiver's secret";
const SERVICE = "greeter-lite";

let root: string;
let dataDir: string;
let bundlesDir: string;
let mesh: RunningMesh | undefined;
let receiver: NotifyReceiver | undefined;
const arrived = (match: (e: Notification) => boolean) => receiver!.arrived("a notification", match);

const drop = (name: string, write: (staging: string) => Promise<unknown>) => dropBundle(bundlesDir, name, write);

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "gridiron-notify-"));
  dataDir = path.join(root, "data");
  bundlesDir = path.join(root, "bundles");
  receiver = await startNotifyReceiver();
  const secretFile = path.join(root, "notify-secret");
  await writeFile(secretFile, `${SECRET}\n`, { mode: 0o600 });
  await buildService(SERVICE, path.join(root, "built"), { servicesDir: path.join(REPO, "test/fixtures/services") });
  await cp(path.join(root, "built", SERVICE), path.join(bundlesDir, SERVICE), { recursive: true });
  mesh = await startGridiron({
    dataDir, bundlesDir, ports: await allocatePorts(), logFile: path.join(root, "gridiron.log"),
    env: {
      GRIDIRON_NOTIFY_URL: receiver.url,
      GRIDIRON_NOTIFY_SECRET_FILE: secretFile,
      GRIDIRON_NODE_NAME: "notify-node",
    },
  });
}, 120_000);

afterAll(async () => {
  await tearDownMesh(mesh, root, dataDir);
  await receiver?.close();
});

describe("notifications", () => {
  it("a new version arrives as a signed deploy event, with the version it replaced", async () => {
    const first = await arrived((e) => e.type === "deploy" && e.service === SERVICE);
    const v1 = (await mesh!.status()).services.find((s) => s.service === SERVICE)!.serving;
    expect(first.event).toMatchObject({ type: "deploy", service: SERVICE, version: v1, weight: 100, node: "notify-node" });
    expect(first.headers["content-type"]).toBe("application/json");
    expect(first.headers["x-gridiron-event"]).toBe("deploy");
    expect(first.headers["x-gridiron-delivery"]).toBe(first.event.id);
    expect(verifyHubSignature(SECRET, first.body, first.headers["x-hub-signature-256"])).toBe(true);
    expect(verifyHubSignature("another secret", first.body, first.headers["x-hub-signature-256"])).toBe(false);

    // A new version: the bundle's manifest changes in place, in one rename.
    const manifest = path.join(bundlesDir, SERVICE, "gridiron.json");
    await writeFile(path.join(root, "gridiron.json"), JSON.stringify({ ...JSON.parse(await readFile(manifest, "utf8")), vars: { EDITION: "2" } }));
    await rename(path.join(root, "gridiron.json"), manifest);
    const second = await arrived((e) => e.type === "deploy" && e.service === SERVICE && e.version !== v1);
    expect(second.event).toMatchObject({ from: v1, weight: 100 });
    expect(second.event.id).not.toBe(first.event.id);
    expect(verifyHubSignature(SECRET, second.body, second.headers["x-hub-signature-256"])).toBe(true);
  });

  it("a bundle workerd refuses arrives as a signed version.failed event, once", async () => {
    await drop("broken", (staging) => writeBrokenBundle(staging, "broken"));
    const failed = await arrived((e) => e.type === "version.failed" && e.service === "broken");
    expect(failed.event).toMatchObject({ condition: "Failed", code: "VERSION_INVALID", version: expect.any(String) });
    expect((failed.event as { message: string }).message).toMatch(/SyntaxError/);
    expect(verifyHubSignature(SECRET, failed.body, failed.headers["x-hub-signature-256"])).toBe(true);

    // A manual pass proves the broken version again; it is the same rejection, not news. Events
    // go out in order, so once a later one has arrived, a repeat would have arrived before it.
    await mesh!.http.request(`${mesh!.apiUrl}/reconcile`, { method: "POST", timeoutMs: 60_000 });
    await drop("broken2", (staging) => writeBrokenBundle(staging, "broken2"));
    await arrived((e) => e.type === "version.failed" && e.service === "broken2");
    expect(receiver!.events("version.failed", "broken")).toHaveLength(1);
    const metrics = (await mesh!.http.request(`${mesh!.apiUrl}/metrics`)).text;
    expect(Number(/^gridiron_notifications_total\{result="delivered"\} (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(3);
  });
});
