/**
 * `gridiron call` against a small fake ingress: the request it sends (path, body, content type)
 * for the forms the justfile's test-* recipes use, and the answer it prints.
 */
import { spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "bin", "gridiron.js");

interface Seen {
  url: string;
  body: string;
  contentType: string | undefined;
}

let server: Server;
let port: number;
const seen: Seen[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      seen.push({ url: req.url ?? "", body, contentType: req.headers["content-type"] });
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(`answered ${req.url}`));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
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

describe("gridiron call", () => {
  it("--string sends the text as a JSON string and prints the answer", async () => {
    const r = await gridiron(["call", "Greeter/greet", "--host", "127.0.0.1", "--ingress-port", String(port), "--string=-Ana \"B\""]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(seen.at(-1)).toEqual({ url: "/Greeter/greet", body: JSON.stringify('-Ana "B"'), contentType: "application/json" });
    expect(r.stdout).toBe(`${JSON.stringify("answered /Greeter/greet")}\n`);
  }, 30_000);

  it("takes the key of <Object>/<key>/<handler> as all between the first and last slash, and a server bound to 0.0.0.0 is called on loopback", async () => {
    const r = await gridiron(["call", "Counter/a/b c/add", "--host", "0.0.0.0", "--ingress-port", String(port)]);
    expect(r.code).toBe(0);
    expect(seen.at(-1)).toEqual({ url: "/Counter/a%2Fb%20c/add", body: "", contentType: undefined });
  }, 30_000);

  it("refuses a body given twice", async () => {
    const r = await gridiron(["call", "Counter/demo/add", "5", "--string", "x", "--ingress-port", String(port)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("too many arguments");
  }, 30_000);
});
