/**
 * Test helper: a real restate-server (the npm package's native binary) on free loopback ports.
 *
 * Env vars that place restate-server on chosen ports/dirs (all set by startRestate; every inherited
 * RESTATE_* var is dropped first so a dev shell's settings cannot leak in):
 *   RESTATE_BASE_DIR=<dir>                                  data lives in <dir>/<node-name>/
 *   RESTATE_NODE_NAME=gridiron-test
 *   RESTATE_INGRESS__BIND_ADDRESS=127.0.0.1:<ingress>       (default 0.0.0.0:8080)
 *   RESTATE_ADMIN__BIND_ADDRESS=127.0.0.1:<admin>           (default 0.0.0.0:9070)
 *   RESTATE_BIND_ADDRESS=127.0.0.1:<node>                   node-to-node fabric (default 0.0.0.0:5122)
 *   RESTATE_ADVERTISED_ADDRESS=http://127.0.0.1:<node>/
 *   RESTATE_INGRESS__ADVERTISED_INGRESS_ENDPOINT / RESTATE_ADMIN__ADVERTISED_ADMIN_ENDPOINT
 *   RESTATE_LISTEN_MODE=tcp                                 no unix sockets under the base dir
 *   RESTATE_DISABLE_TELEMETRY=true, RESTATE_LOG_FORMAT=compact, RESTATE_LOG_DISABLE_ANSI_CODES=true
 * With these the server listens on exactly those three TCP ports and nothing else.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePorts } from "./ports.ts";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

export interface StartRestateOptions {
  /** Data directory (created if missing); the server log goes to `<baseDir>/restate.log`. */
  baseDir: string;
  /** Extra RESTATE_* env vars, applied last (e.g. `{ RESTATE_DEFAULT_NUM_PARTITIONS: "4" }`). */
  env?: Record<string, string>;
  /** How long to wait for admin and ingress health, in ms (default 30 000). */
  timeoutMs?: number;
}

export interface RestateServer {
  /** e.g. `http://127.0.0.1:41234` (no trailing slash). */
  ingressUrl: string;
  /** e.g. `http://127.0.0.1:41235` (no trailing slash). */
  adminUrl: string;
  /** Node-to-node fabric address, e.g. `http://127.0.0.1:41236/`. */
  nodeUrl: string;
  /** pid of the restate-server process itself (not a Node wrapper). */
  pid: number;
  /** File receiving the server's stdout and stderr. */
  logFile: string;
  /** Sends SIGTERM (SIGKILL after `graceMs`, default 10 000) and resolves once the process exited. */
  stop(graceMs?: number): Promise<void>;
}

/** Path of the native restate-server binary; falls back to the npm wrapper in node_modules/.bin. */
export function restateServerBinary(): string {
  const require = createRequire(import.meta.url);
  try {
    return require.resolve(`@restatedev/restate-server-${os.platform()}-${os.arch()}/bin/restate-server`);
  } catch {
    return path.join(REPO_ROOT, "node_modules", ".bin", "restate-server");
  }
}

/** Starts restate-server on free 127.0.0.1 ports and resolves once admin and ingress are healthy. */
export async function startRestate(opts: StartRestateOptions): Promise<RestateServer> {
  let lastError: unknown;
  // A free port can be taken by someone else before the server binds it: retry with fresh ports.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      lastError = err;
      if (!(err instanceof EarlyExitError)) throw err;
    }
  }
  throw lastError;
}

class EarlyExitError extends Error {}

async function startOnce(opts: StartRestateOptions): Promise<RestateServer> {
  const baseDir = path.resolve(opts.baseDir);
  mkdirSync(baseDir, { recursive: true });
  const [ingress, admin, node] = (await freePorts(3)) as [number, number, number];
  const ingressUrl = `http://127.0.0.1:${ingress}`;
  const adminUrl = `http://127.0.0.1:${admin}`;
  const nodeUrl = `http://127.0.0.1:${node}/`;

  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("RESTATE_")) env[k] = v;
  Object.assign(env, {
    RESTATE_BASE_DIR: baseDir,
    RESTATE_NODE_NAME: "gridiron-test",
    RESTATE_INGRESS__BIND_ADDRESS: `127.0.0.1:${ingress}`,
    RESTATE_INGRESS__ADVERTISED_INGRESS_ENDPOINT: `${ingressUrl}/`,
    RESTATE_ADMIN__BIND_ADDRESS: `127.0.0.1:${admin}`,
    RESTATE_ADMIN__ADVERTISED_ADMIN_ENDPOINT: `${adminUrl}/`,
    RESTATE_BIND_ADDRESS: `127.0.0.1:${node}`,
    RESTATE_ADVERTISED_ADDRESS: nodeUrl,
    RESTATE_LISTEN_MODE: "tcp",
    RESTATE_DISABLE_TELEMETRY: "true",
    RESTATE_LOG_FORMAT: "compact",
    RESTATE_LOG_DISABLE_ANSI_CODES: "true",
    ...opts.env,
  });

  const logFile = path.join(baseDir, "restate.log");
  const logFd = openSync(logFile, "a");
  let child: ChildProcess;
  try {
    child = spawn(restateServerBinary(), ["--no-logo"], { cwd: baseDir, env, stdio: ["ignore", logFd, logFd] });
  } finally {
    closeSync(logFd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not spawn restate-server (${restateServerBinary()})`);

  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
  const stop = async (graceMs = 10_000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  };

  try {
    await waitHealthy(child, [`${adminUrl}/health`, `${ingressUrl}/restate/health`], opts.timeoutMs ?? 30_000, logFile);
  } catch (err) {
    await stop(2_000);
    throw err;
  }
  return { ingressUrl, adminUrl, nodeUrl, pid, logFile, stop };
}

async function waitHealthy(child: ChildProcess, urls: string[], timeoutMs: number, logFile: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(urls);
  while (pending.size > 0) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new EarlyExitError(
        `restate-server exited (${child.exitCode ?? child.signalCode}) before it was healthy:\n${tail(logFile)}`,
      );
    }
    if (Date.now() > deadline) throw new Error(`restate-server not healthy after ${timeoutMs} ms:\n${tail(logFile)}`);
    for (const url of [...pending]) {
      const res = await fetch(url, { signal: AbortSignal.timeout(1_000) }).catch(() => undefined);
      if (res?.ok) pending.delete(url);
      await res?.body?.cancel();
    }
    if (pending.size > 0) await new Promise((r) => setTimeout(r, 50));
  }
}

/** Last `lines` lines of a log file (empty string if it does not exist). */
export function tail(file: string, lines = 40): string {
  if (!existsSync(file)) return "";
  return readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
}

export interface RegisterOptions {
  /** Stored with the deployment and returned by `GET /deployments`. */
  metadata?: Record<string, string>;
  /** Overwrite an existing deployment with the same URI. */
  force?: boolean;
}

/** Shape of the admin API's answer to `POST /deployments` (the fields tests need). */
export interface RegisteredDeployment {
  id: string;
  services: { name: string; revision: number; handlers?: unknown[] }[];
}

/** Registers an HTTP/1.1 deployment (`use_http_11: true`, as workerd needs) and returns Restate's answer. */
export async function registerDeployment(
  adminUrl: string,
  uri: string,
  opts: RegisterOptions = {},
): Promise<RegisteredDeployment> {
  const body: Record<string, unknown> = { uri, use_http_11: true };
  if (opts.metadata) body.metadata = opts.metadata;
  if (opts.force !== undefined) body.force = opts.force;
  const res = await fetch(`${adminUrl}/deployments`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST ${adminUrl}/deployments ${uri} → ${res.status}: ${text}`);
  return JSON.parse(text) as RegisteredDeployment;
}

export interface IngressResponse {
  status: number;
  body: string;
  /** `body` parsed as JSON, or undefined when it is empty or not JSON. */
  json: unknown;
}

/**
 * POSTs to `<ingressUrl><path>` (e.g. `/Greeter/greet`), with `body` as JSON unless it is undefined.
 * Retries while the ingress answers 404 (it may learn a new service a moment after registration).
 */
export async function callIngress(
  ingressUrl: string,
  urlPath: string,
  body?: unknown,
  opts: { notFoundRetryMs?: number; headers?: Record<string, string> } = {},
): Promise<IngressResponse> {
  const deadline = Date.now() + (opts.notFoundRetryMs ?? 10_000);
  const init: RequestInit = { method: "POST", headers: { ...opts.headers } };
  if (body !== undefined) {
    init.headers = { "content-type": "application/json", ...opts.headers };
    init.body = JSON.stringify(body);
  }
  for (;;) {
    const res = await fetch(`${ingressUrl}${urlPath}`, init);
    const text = await res.text();
    if (res.status === 404 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    let json: unknown;
    try {
      json = text === "" ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, body: text, json };
  }
}
