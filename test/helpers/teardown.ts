// The afterAll of a test file that ran one mesh in its own temp root.
import { rm } from "node:fs/promises";
import { expect } from "vitest";
import { processesUnder, type RunningMesh } from "./mesh.ts";

/**
 * Stops `mesh` (if it started), checks that no process is left running under `dataDir`, and
 * deletes `root`. Does nothing more when the file's setup failed before it made `root`.
 */
export async function tearDownMesh(mesh: RunningMesh | undefined, root: string | undefined, dataDir: string): Promise<void> {
  await mesh?.stop();
  if (!root) return;
  expect(await processesUnder(dataDir)).toEqual([]);
  await rm(root, { recursive: true, force: true });
}
