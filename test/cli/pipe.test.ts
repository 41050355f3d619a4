/**
 * `gridiron <command> | head`: when the reader closes the pipe before the CLI is done printing,
 * the CLI exits quietly with its own exit code instead of dying on an unhandled EPIPE.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "bin", "gridiron.js");

function runWithClosedStdout(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    // The reader goes away before the first line arrives, like `head -0`.
    child.stdout.destroy();
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code, stderr }));
  });
}

describe("CLI output into a closed pipe", () => {
  it("exits 0 without an EPIPE stack trace", async () => {
    const r = await runWithClosedStdout(["status", "--help"]);
    expect(r.stderr).not.toContain("EPIPE");
    expect(r.code).toBe(0);
  }, 30_000);
});
