// The keep-alive race: a server closes a pooled connection as idle just as the client sends on it.
// A server that drops every second request of a connection, unanswered, plays the server's side.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, expect, it } from "vitest";
import { HttpClient } from "../../reconciler/core/http-client.ts";

let server: Server | undefined;
const client = new HttpClient();

afterEach(async () => {
  client.close();
  await new Promise((r) => server?.close(r));
});

async function serve(dropWhen: (nth: number) => boolean): Promise<{ url: string; connections: () => number }> {
  let connections = 0;
  const seen = new WeakMap<object, number>();
  server = createServer((req, res) => {
    const nth = (seen.get(req.socket) ?? 0) + 1;
    seen.set(req.socket, nth);
    if (dropWhen(nth)) return req.socket.destroy();
    res.end(`request ${nth} of its connection`);
  });
  server.on("connection", () => connections++);
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, connections: () => connections };
}

it("sends again, once, on a fresh connection when a pooled one is reset before any answer", async () => {
  const s = await serve((nth) => nth === 2);
  expect((await client.request(s.url)).text).toBe("request 1 of its connection");
  const again = await client.request(s.url, { method: "POST", body: "x" });
  expect(again).toEqual({ status: 200, text: "request 1 of its connection" });
  expect(s.connections()).toBe(2);
});

it("does not send again when a fresh connection is reset", async () => {
  const s = await serve(() => true);
  await expect(client.request(s.url)).rejects.toMatchObject({ code: "ECONNRESET" });
  expect(s.connections()).toBe(1);
});
