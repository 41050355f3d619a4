// A Restate port already served by another process (another mesh) stops start-up at once with a
// clear reason, instead of Gridiron talking to the other mesh's restate-server.
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { allocatePorts, processesUnder, startGridiron, tailFile } from "../helpers/mesh.ts";

let root: string;
beforeAll(async () => (root = await mkdtemp(path.join(tmpdir(), "gridiron-ports-"))));
afterAll(async () => rm(root, { recursive: true, force: true }));

it.each(["admin", "ingress"] as const)("refuses to start when the %s port is taken by another server", async (which) => {
  const ports = await allocatePorts();
  const squatter = createServer((c) => c.destroy());
  await new Promise<void>((resolve) => squatter.listen(ports[which], "127.0.0.1", resolve));
  const dataDir = path.join(root, which, "data");
  const logFile = path.join(root, `${which}.log`);
  try {
    await expect(startGridiron({ dataDir, bundlesDir: path.join(root, which, "bundles"), ports, logFile, readyTimeoutMs: 30_000 })).rejects.toThrow(/exited during start-up/);
    expect(await tailFile(logFile)).toContain(`restate-server's ${which} port 127.0.0.1:${ports[which]} is already taken by another process`);
    expect(await processesUnder(dataDir)).toEqual([]);
  } finally {
    await new Promise((r) => squatter.close(r));
  }
});
