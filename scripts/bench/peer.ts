// Starts the Node SDK peer (node-peer.ts) as a child process and registers it with the mesh's
// restate-server as an HTTP/1.1 deployment, the way Gridiron registers workerd versions, or (serve)
// as the HTTP/2 deployment the SDK's quickstart makes.
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { transform } from "esbuild";
import { HttpClient } from "../../reconciler/core/http-client.ts";
import { tailFile } from "../../test/helpers/mesh.ts";
import { freePort } from "../../test/helpers/ports.ts";
import type { Cleanup } from "./cleanup.ts";

const PEER = fileURLToPath(new URL("./node-peer.ts", import.meta.url));

/**
 * node-peer.ts as plain JavaScript, run by plain `node` as a user would deploy it: under a
 * TypeScript loader (tsx) the peer held ~35 MB more RSS, which is no part of the Node SDK's cost.
 * Written under node_modules/.cache so the SDK resolves from the repo's node_modules.
 */
async function peerScript(): Promise<string> {
  const { code } = await transform(await readFile(PEER, "utf8"), { loader: "ts", format: "esm", target: "node20" });
  const file = path.join(path.dirname(PEER), "../../node_modules/.cache/gridiron-bench/node-peer.mjs");
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, code);
  return file;
}

export interface NodePeer {
  pid: number;
  port: number;
  deploymentId: string;
  stop(): Promise<void>;
}

/**
 * The peer's output (the SDK logs two lines per invocation) goes to `logFile`, as the mesh's does.
 * `adminUrl` undefined: start it without registering it anywhere (deploymentId is then "").
 * `serve`: the SDK's quickstart server (HTTP/2, BIDI_STREAM) instead of HTTP/1.1 request-response.
 */
export async function startNodePeer(adminUrl: string | undefined, logFile: string, cleanup: Cleanup, env: Record<string, string> = {}, serve = false): Promise<NodePeer> {
  const port = await freePort();
  const fd = openSync(logFile, "a");
  const child = spawn(process.execPath, [await peerScript(), String(port)], { stdio: ["ignore", fd, fd], env: { ...process.env, ...env, ...(serve ? { BENCH_PEER_SERVE: "1" } : {}) } });
  closeSync(fd);
  const pid = child.pid!;
  cleanup.trackPid(pid);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (!gone) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }
      cleanup.untrackPid(pid);
    })());
  cleanup.add("node peer", stop);

  const http = new HttpClient();
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (gone) throw new Error(`node peer exited during start-up: ${await tailFile(logFile, 10)}`);
      if (Date.now() > deadline) throw new Error(`node peer did not answer /discover within 30 s: ${await tailFile(logFile, 10)}`);
      // Any answer means it listens (with identity keys an unsigned /discover gets 401). An HTTP/2
      // server answers no HTTP/1.1 request: it says when it listens.
      if (serve && (await tailFile(logFile, 20)).includes(`listening on 127.0.0.1:${port}`)) break;
      const r = serve ? undefined : await http.request(`http://127.0.0.1:${port}/discover`, { headers: { accept: "application/vnd.restate.endpointmanifest.v3+json" }, timeoutMs: 1000 }).catch(() => undefined);
      if (r !== undefined) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    if (adminUrl === undefined) return { pid, port, deploymentId: "", stop };
    const r = await http.request(`${adminUrl}/deployments`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ uri: `http://127.0.0.1:${port}/`, use_http_11: !serve, force: true }),
    });
    if (r.status !== 200 && r.status !== 201) throw new Error(`registering the node peer: restate answered ${r.status}: ${r.text}`);
    const deploymentId = (JSON.parse(r.text) as { id: string }).id;
    return { pid, port, deploymentId, stop };
  } finally {
    http.close();
  }
}

/**
 * Waits until Restate has no open invocation for `services` (in-flight calls the load generator
 * left behind when it stopped), so stopping the peer does not leave Restate retrying against a
 * dead endpoint in later measurements. Gives up quietly after `timeoutMs`.
 */
export async function waitInvocationsDone(adminUrl: string, services: string[], timeoutMs = 15_000): Promise<number> {
  const http = new HttpClient();
  const list = services.map((s) => `'${s.replace(/'/g, "''")}'`).join(", ");
  const query = `SELECT count(*) AS n FROM sys_invocation_status WHERE target_service_name IN (${list}) AND status != 'completed'`;
  const deadline = Date.now() + timeoutMs;
  let open = -1;
  try {
    while (Date.now() < deadline) {
      const r = await http.request(`${adminUrl}/query`, {
        method: "POST", headers: { "content-type": "application/json", accept: "application/json" }, body: JSON.stringify({ query }),
      }).catch(() => undefined);
      if (r?.status === 200) {
        open = Number((JSON.parse(r.text) as { rows: { n: number }[] }).rows[0]?.n ?? 0);
        if (open === 0) return 0;
      }
      await new Promise((res) => setTimeout(res, 200));
    }
    return open;
  } finally {
    http.close();
  }
}
