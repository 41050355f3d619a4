// Suspensions in a cluster: what one node writes into GridironSuspensions (here a small stand-in
// for the object behind Restate's ingress) the registrar reads at its next pass; a failed read keeps
// what was read last, so a Restate hiccup never lifts a suspension; a failed write says so.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpClient } from "../../reconciler/core/http-client.ts";
import { RestateSuspensions } from "../../reconciler/node/cluster-suspensions.ts";
import { MESH } from "../../reconciler/store/suspensions.ts";

let server: Server;
let url: string;
let down = false;
const state: Record<string, unknown> = {};
const http = new HttpClient();

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const m = /^\/GridironSuspensions\/cluster\/(all|set|delete)$/.exec(req.url ?? "");
      if (down || !m || req.method !== "POST") return res.writeHead(down ? 503 : 404).end("unavailable");
      const arg = body ? (JSON.parse(body) as { scope: string; suspension?: unknown }) : undefined;
      if (m[1] === "set") state[arg!.scope] = arg!.suspension;
      if (m[1] === "delete") delete state[arg!.scope];
      res.writeHead(200, { "content-type": "application/json" }).end(m[1] === "all" ? JSON.stringify(state) : "null");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  http.close();
  await new Promise((r) => server.close(r));
});

describe("RestateSuspensions", () => {
  it("a suspension one node writes is what the registrar reads; an outage keeps the last read", async () => {
    const node = new RestateSuspensions({ ingressUrl: url, http });
    const registrar = new RestateSuspensions({ ingressUrl: url, http });
    await node.set("greeter", { since: "t1", by: "ana@box", reason: "incident" });
    await node.set(MESH, { since: "t2" });
    await registrar.load();
    expect(new Map(registrar.entries())).toEqual(new Map([["greeter", { since: "t1", by: "ana@box", reason: "incident" }], [MESH, { since: "t2" }]]));

    down = true;
    await registrar.load();
    expect(registrar.entries().map(([k]) => k)).toEqual(["greeter", MESH]);
    await expect(node.delete(MESH)).rejects.toThrow("GridironSuspensions/delete answered 503");
    down = false;

    await node.delete(MESH);
    await registrar.load();
    expect(registrar.entries().map(([k]) => k)).toEqual(["greeter"]);
  });
});
