// The reconciler's HTTP API (:8081): GET /healthz, GET /status, GET /plan, POST /reconcile.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { asGridironError } from "./errors.ts";
import type { Reconciler } from "./reconciler.ts";

export interface ApiServer {
  url: string;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2) + "\n";
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
  res.end(text);
}

export async function startApiServer(reconciler: Reconciler, opts: { host: string; port: number; logger: Logger }): Promise<ApiServer> {
  const log = opts.logger.child({ component: "api" });
  const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => Promise<void>> = {
    "GET /healthz": async (_req, res) => send(res, 200, { ok: true }),
    "GET /status": async (_req, res) => send(res, 200, reconciler.status()),
    "GET /plan": async (_req, res) => send(res, 200, await reconciler.plan()),
    "POST /reconcile": async (_req, res) => {
      const result = await reconciler.reconcile("api");
      send(res, result.outcome === "error" ? 500 : 200, result);
    },
  };
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const route = routes[`${req.method} ${path}`];
    if (!route) {
      const allowed = Object.keys(routes).filter((r) => r.endsWith(` ${path}`));
      send(res, allowed.length ? 405 : 404, { error: allowed.length ? `use ${allowed.join(" or ")}` : `no route ${req.method} ${path}; try GET /status` });
      return;
    }
    route(req, res).catch((err) => {
      const e = asGridironError(err);
      log.error({ err: e.toJSON(), path }, "API request failed");
      if (!res.headersSent) send(res, 500, { error: e.toJSON() });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${opts.host}:${port}`;
  log.info({ url }, "API listening");
  let closing: Promise<void> | undefined;
  return {
    url,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
