/**
 * `gridiron call` while the answer is late, against a fake ingress that never answers and a fake
 * admin API that reports the invocation as retrying: the key it sends to find its invocation, the
 * notice on stderr, and --timeout.
 */
import { spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "bin", "gridiron.js");

let server: Server;
let port: number;
const keys: (string | undefined)[] = [];
const queries: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      if (req.url === "/query") {
        queries.push((JSON.parse(body) as { query: string }).query);
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ rows: [{
          id: "inv_1slow", status: "backing-off", target_service_name: "Slow", target_handler_name: "wait",
          retry_count: 3, next_retry_at: new Date(Date.now() + 5000).toISOString(),
          last_failure: "[500 Internal] slow handler failed\nError: slow handler failed\n    at wait (slow/v-1/index.js:1:1)", last_failure_error_code: "RT0007",
        }] }));
        return;
      }
      keys.push(req.headers["idempotency-key"] as string | undefined);
      // Never answers: the call is left waiting (the socket closes when the client goes).
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function gridiron(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.GRIDIRON_INGRESS_URL;
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("gridiron call, waiting", () => {
  it("says why the answer is late (id, attempt, error, how to end it) and stops at --timeout with exit code 1", async () => {
    const r = await gridiron(["call", "Slow/wait", "--ingress-port", String(port), "--admin-port", String(port), "--timeout", "4.5"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(keys.at(-1)).toMatch(/^gridiron-call-[0-9a-f-]{36}$/);
    expect(queries.at(-1)).toContain(`idempotency_key = '${keys.at(-1)}'`);
    expect(r.stderr).toContain("gridiron call: no answer yet: invocation inv_1slow (Slow/wait) is retrying; attempt 3 failed: slow handler failed");
    expect(r.stderr).toContain("'gridiron kill inv_1slow'");
    expect(r.stderr).toContain("gridiron call: no answer from Slow/wait after 4.5 s; stopped waiting. Invocation inv_1slow goes on: attempt 3 failed");
  }, 30_000);

  it("uses the caller's idempotency key to find its invocation", async () => {
    const r = await gridiron(["call", "Slow/wait", "--ingress-port", String(port), "--admin-port", String(port), "--timeout", "0.5", "--idempotency-key", "mine-1"]);
    expect(r.code).toBe(1);
    expect(keys.at(-1)).toBe("mine-1");
  }, 30_000);

  it("refuses a --timeout that is not a positive number of seconds", async () => {
    const r = await gridiron(["call", "Slow/wait", "--ingress-port", String(port), "--timeout", "soon"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--timeout: expected seconds");
  }, 30_000);
});
