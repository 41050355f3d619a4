// A --notify-url receiver on loopback for tests: keeps every request (headers, raw body, event).
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import type { Notification } from "../../reconciler/node/notify.ts";
import { waitFor } from "./mesh.ts";

export interface Received {
  headers: IncomingHttpHeaders;
  body: Buffer;
  event: Notification;
}

export interface NotifyReceiver {
  url: string;
  received: Received[];
  /** Events of `type` (and of `service`, if given) received so far. */
  events(type: string, service?: string): Notification[];
  /** Waits for an event that matches. */
  arrived(what: string, match: (e: Notification) => boolean, timeoutMs?: number): Promise<Received>;
  close(): Promise<void>;
}

export async function startNotifyReceiver(): Promise<NotifyReceiver> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      received.push({ headers: req.headers, body, event: JSON.parse(body.toString()) as Notification });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/gridiron`,
    received,
    events: (type, service) => received.map((r) => r.event).filter((e) => e.type === type && (service === undefined || e.service === service)),
    arrived: (what, match, timeoutMs = 60_000) => waitFor(what, async () => received.find((r) => match(r.event)), timeoutMs),
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
