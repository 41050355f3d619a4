// The reconciler's HTTP API (:8081): GET /healthz, GET /readyz, GET /status, GET /plan, POST /reconcile,
// POST /hooks/git (a push webhook: GitHub-style HMAC when a secret is configured), GET /metrics
// (Prometheus), GET / (the status page), and with an invocation watch GET /invocations,
// POST /invocations/kill and POST /invocations/resume; GET /rollout and POST /rollout (promote or
// abort a progressive rollout); POST /suspend and POST /resume (a service, or the whole mesh).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { RestateAdmin } from "../restate/admin.ts";
import { bearerMatches } from "./auth.ts";
import { GridironError, asGridironError } from "../core/errors.ts";
import { isInvocationId } from "../restate/trouble.ts";
import { troubleList, type InvocationWatch } from "./invocations.ts";
import type { Metrics } from "./metrics.ts";
import type { Reconciler } from "../reconcile/loop.ts";
import type { ReconcileResult } from "../reconcile/status.ts";
import { STATUS_PAGE } from "./status-page.ts";
import { verifyHubSignature } from "./webhook.ts";

export interface ApiServer {
  url: string;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2) + "\n";
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024) throw new GridironError("API_BODY_TOO_LARGE", "request body over 64 KiB");
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  try {
    const value = text ? (JSON.parse(text) as unknown) : {};
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    throw new GridironError("API_BAD_JSON", "request body is not JSON");
  }
}

/** The raw body, for signature checks; over `limit` bytes is refused (webhook payloads are small). */
async function readRaw(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export async function startApiServer(reconciler: Reconciler, opts: { host: string; port: number; logger: Logger; webhookSecret?: string; metrics?: Pick<Metrics, "scrape" | "contentType">; apiToken?: string; invocations?: InvocationWatch; restate?: Pick<RestateAdmin, "forward"> }): Promise<ApiServer> {
  const log = opts.logger.child({ component: "api" });
  // Restate's admin API, read-only, for nodes of a cluster that may not reach it themselves (only
  // the registrar does, by NetworkPolicy): what is registered, the catalog, SQL introspection.
  const restateRead = (method: "GET" | "POST", path: string) => async (req: IncomingMessage, res: ServerResponse) => {
    if (!opts.restate) return send(res, 404, { error: "no Restate admin API behind this process" });
    const body = method === "POST" ? (await readRaw(req, 64 * 1024))?.toString("utf8") : undefined;
    const r = await opts.restate.forward(method, path, body);
    res.writeHead(r.status, { "content-type": "application/json", "cache-control": "no-store" });
    res.end(r.text);
  };
  const restateWrite = (method: "PATCH", path: string) => async (_req: IncomingMessage, res: ServerResponse) => {
    if (!opts.restate) return send(res, 404, { error: "no Restate admin API behind this process" });
    const r = await opts.restate.forward(method, path);
    res.writeHead(r.status, { "content-type": "application/json", "cache-control": "no-store" });
    res.end(r.text);
  };
  const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => Promise<void>> = {
    "GET /restate/health": restateRead("GET", "/health"),
    "GET /restate/deployments": restateRead("GET", "/deployments"),
    "GET /restate/services": restateRead("GET", "/services"),
    "POST /restate/query": restateRead("POST", "/query"),
    "GET /healthz": async (_req, res) => send(res, 200, { ok: true }),
    // Readiness, not liveness: a node that has not yet served what is registered answers 503, so
    // the Service in front of the nodes sends it no calls.
    "GET /readyz": async (_req, res) => {
      const why = reconciler.notReady;
      send(res, why === undefined ? 200 : 503, why === undefined ? { ready: true } : { ready: false, reason: why });
    },
    "GET /": async (_req, res) => {
      res.writeHead(200, STATUS_PAGE.headers);
      res.end(STATUS_PAGE.html);
    },
    "GET /metrics": async (_req, res) => {
      if (!opts.metrics) return send(res, 404, { error: "metrics are not enabled" });
      const text = await opts.metrics.scrape();
      res.writeHead(200, { "content-type": opts.metrics.contentType, "cache-control": "no-store" });
      res.end(text);
    },
    "GET /status": async (_req, res) => send(res, 200, opts.invocations ? await opts.invocations.status(reconciler.status()) : reconciler.status()),
    "GET /plan": async (_req, res) => send(res, 200, await reconciler.plan()),
    "POST /reconcile": async (_req, res) => {
      const result = await reconciler.reconcile("api");
      // Nothing done: 422 when only the desired state was refused (a bad bundle, which the serving
      // version outlives), 500 when the pass itself failed.
      const refused = result.errors.every((e) => e.kind === "stalled");
      send(res, result.outcome !== "error" ? 200 : refused ? 422 : 500, result);
    },
    // A push webhook (GitHub, Gitea, Forgejo; any sender that signs like GitHub). With a secret
    // configured, a missing or wrong X-Hub-Signature-256 gets 401 and triggers nothing. The pass
    // runs after the answer (senders time out after ~10 s); ?wait=1 answers with its result.
    "POST /hooks/git": async (req, res) => {
      const body = await readRaw(req, 5 * 1024 * 1024);
      if (!body) return send(res, 413, { error: "webhook payload over 5 MiB" });
      if (opts.webhookSecret && !verifyHubSignature(opts.webhookSecret, body, req.headers["x-hub-signature-256"])) {
        log.warn({ remote: req.socket.remoteAddress, event: req.headers["x-github-event"] }, "webhook refused: missing or wrong X-Hub-Signature-256");
        return send(res, 401, { error: "missing or wrong X-Hub-Signature-256 (HMAC-SHA256 of the body with GRIDIRON_WEBHOOK_SECRET)" });
      }
      log.info({ event: req.headers["x-github-event"], delivery: req.headers["x-github-delivery"] }, "webhook: reconciling");
      const pass = reconciler.reconcile("webhook");
      if (new URL(req.url ?? "/", "http://x").searchParams.has("wait")) {
        const result = await pass;
        return send(res, result.outcome === "error" ? 500 : 200, result);
      }
      void pass.catch(() => undefined);
      send(res, 202, { accepted: true, trigger: "webhook", status: "/status" });
    },
    "POST /rollback": async (req, res) => {
      const body = await readJson(req);
      if (typeof body.service !== "string") return send(res, 400, { error: 'body must be {"service": "<name>", "version"?: "<version>", "breaking"?: true}' });
      const result = await reconciler.rollback(body.service, typeof body.version === "string" ? body.version : undefined, { breaking: body.breaking === true });
      send(res, commandStatus(result), result);
    },
    "GET /rollout": async (_req, res) => {
      send(res, 200, { rollouts: Object.fromEntries(reconciler.status().services.flatMap((s) => (s.rollout ? [[s.service, s.rollout]] : []))) });
    },
    "POST /rollout": async (req, res) => {
      const body = await readJson(req);
      if (typeof body.service !== "string" || (body.action !== "promote" && body.action !== "abort")) return send(res, 400, { error: 'body must be {"service": "<name>", "action": "promote" | "abort"}' });
      const result = await reconciler.rollout(body.service, body.action);
      send(res, commandStatus(result), result);
    },
    // Suspend and resume a service (or, without one, the whole mesh); the error of a bad request is the caller's (400).
    "POST /suspend": async (req, res) => {
      const body = await readJson(req);
      const text = (k: string) => (typeof body[k] === "string" && body[k] !== "" ? (body[k] as string) : undefined);
      if ([body.service, body.reason, body.by].some((v) => v !== undefined && typeof v !== "string")) return send(res, 400, { error: 'body must be {"service"?: "<name>", "reason"?: "<text>", "by"?: "<who>"}' });
      // An empty service name is a mistake, not the whole mesh: it is checked like any name.
      send(res, 200, await reconciler.suspend({ service: body.service as string | undefined, reason: text("reason"), by: text("by") }));
    },
    "POST /resume": async (req, res) => {
      const body = await readJson(req);
      if (body.service !== undefined && typeof body.service !== "string") return send(res, 400, { error: 'body must be {"service"?: "<name>"}' });
      send(res, 200, await reconciler.resume(body.service as string | undefined));
    },
    "POST /move": async (req, res) => {
      const body = await readJson(req);
      if (typeof body.service !== "string" || typeof body.version !== "string") return send(res, 400, { error: 'body must be {"service": "<name>", "version": "<version>"}' });
      send(res, 200, await reconciler.moveInvocations(body.service, body.version));
    },
  };
  const watch = opts.invocations;
  if (watch) {
    routes["GET /invocations"] = async (req, res) => {
      const service = new URL(req.url ?? "/", "http://x").searchParams.get("service") ?? undefined;
      const status = await watch.status(reconciler.status());
      send(res, 200, { ...status.troubleCheck, invocations: troubleList(status, service) });
    };
    // Kill and resume change what a drain waits for: a pass follows, so a version no longer needed goes now.
    routes["POST /invocations/kill"] = async (req, res) => {
      const body = await readJson(req);
      if (typeof body.id !== "string" || !isInvocationId(body.id)) return send(res, 400, { error: 'body must be {"id": "inv_…"}' });
      const outcome = await watch.kill(body.id);
      void reconciler.reconcile("kill");
      send(res, 200, { id: body.id, outcome });
    };
    routes["POST /invocations/resume"] = async (req, res) => {
      const body = await readJson(req);
      if (typeof body.id !== "string" || !isInvocationId(body.id)) return send(res, 400, { error: 'body must be {"id": "inv_…", "deployment"?: "latest" | "dp_…"}' });
      const deployment = typeof body.deployment === "string" ? body.deployment : undefined;
      await watch.resume(body.id, deployment);
      void reconciler.reconcile("resume");
      send(res, 200, { id: body.id, outcome: "resumed", ...(deployment ? { deployment } : {}) });
    };
  }
  // With a token, every route wants `Authorization: Bearer <token>` except the probes (GET /healthz, /readyz)
  // and POST /hooks/git when the webhook has an HMAC secret (senders cannot add a bearer token).
  const open = (method: string | undefined, path: string) =>
    (method === "GET" && (path === "/healthz" || path === "/readyz")) || (method === "POST" && path === "/hooks/git" && !!opts.webhookSecret);
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (opts.apiToken && !open(req.method, path) && !bearerMatches(req.headers.authorization, opts.apiToken)) {
      log.warn({ remote: req.socket.remoteAddress, method: req.method, path, hadToken: req.headers.authorization !== undefined }, "API request refused: missing or wrong bearer token");
      res.setHeader("www-authenticate", 'Bearer realm="gridiron"');
      return send(res, 401, { error: "missing or wrong Authorization: Bearer token (the CLI reads GRIDIRON_API_TOKEN or <data>/api-token)" });
    }
    // A node's cell watchdog pauses a poison invocation; through the pass-through, that is the one
    // change a node may make in Restate.
    const pause = req.method === "PATCH" && /^\/restate\/invocations\/inv_[A-Za-z0-9]+\/pause$/.test(path)
      ? restateWrite("PATCH", path.slice("/restate".length)) : undefined;
    const route = pause ?? routes[`${req.method} ${path}`];
    if (!route) {
      const allowed = Object.keys(routes).filter((r) => r.endsWith(` ${path}`));
      send(res, allowed.length ? 405 : 404, { error: allowed.length ? `use ${allowed.join(" or ")}` : `no route ${req.method} ${path}; try GET /status` });
      return;
    }
    route(req, res).catch((err) => {
      const e = asGridironError(err);
      log.error({ err: e.toJSON(), path }, "API request failed");
      // A request a human can fix (unknown version, bad body) is the caller's error, not ours.
      if (!res.headersSent) send(res, e.kind === "stalled" ? 400 : 500, { error: e.toJSON() });
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

/**
 * An operator command's answer once its pass ran: 200 done; 202 when the pass failed for a reason
 * that passes (Restate busy, a node not answering): the command is recorded and the pass's retry
 * carries it out; 409 when something was refused.
 */
export function commandStatus(result: Pick<ReconcileResult, "errors">): number {
  if (result.errors.length === 0) return 200;
  return result.errors.every((e) => e.kind !== "stalled") ? 202 : 409;
}
