// Section 8, hop: what the router's hop costs through Restate, where it counts. The greeter bundle
// (copies declaring services of their own) runs on scratch workerd processes registered with one
// restate-server, and the same load goes to each in alternating rounds:
// - direct: the socket serves the version's worker itself (a static config, no router);
// - direct, checks identity: the same worker behind a main module of its own that checks request
//   identity first (the router's check, in the version's isolate): what a version with a socket
//   of its own would cost;
// - static, via router: the router in front, the version a service binding (static mode);
// - loader, via router: the router in front, the version from the Worker Loader, with loader
//   mode's V8 flags and garbage collections (what Gridiron runs by default);
// - mesh cell: the same served by a cell of a whole mesh (`gridiron up`, one cell);
// - mesh lane: the same on a lane of that mesh (one lane; what a new version gets by default);
// and the Node SDK peer (HTTP/1.1). Request identity is on as in the invocations section (Restate
// signs; the routers, the checking worker and the peer verify), or off on every side.
import { cp, mkdtemp, readFile } from "node:fs/promises";
import path from "node:path";
import { buildService, type FetchAdapter } from "../../reconciler/build/service.ts";
import { RestateAdmin } from "../../reconciler/restate/admin.ts";
import { DEFAULT_LIMITS, readBundle } from "../../reconciler/source/bundle.ts";
import type { Module, WorkerdConfig } from "../../reconciler/workerd/config.ts";
import { IDENTITY_BINDING, LOADER_V8_FLAGS, V8_FLAGS, buildLoaderConfig, buildWorkerdConfig, identityBinding, workerServiceName } from "../../reconciler/workerd/build.ts";
import { readRouterModules } from "../../reconciler/workerd/router-source.ts";
import type { ScratchWorkerd } from "../../reconciler/workerd/scratch.ts";
import type { Cleanup } from "./cleanup.ts";
import { measureCpu, meshRoles, waitQuiet } from "./cpu.ts";
import { densityService, writeDensityBundle } from "./density-bundles.ts";
import { runLoad } from "./load.ts";
import { meshDirs, startBenchMesh, waitFor } from "./mesh.ts";
import { startNodePeer } from "./peer.ts";
import { withScratchWorkerd } from "./scratch-workerd.ts";
import { mean } from "./stats.ts";

const SIDES = ["direct", "direct, checks identity", "static, via router", "loader, via router", "mesh cell", "mesh lane", "node peer"] as const;
const MESH_SIDES: readonly HopSide[] = ["mesh cell", "mesh lane"];
export type HopSide = (typeof SIDES)[number];

export interface HopRun {
  side: HopSide;
  round: number;
  rps: number;
  failed: number;
  /** CPU per call, µs: the endpoint's process, and restate-server's. */
  endpointUs: number;
  restateUs: number;
  foreign: number;
}

export interface HopResult {
  /** Whether Restate signed and the endpoints verified. */
  identity: boolean;
  runs: HopRun[];
  /** Mean endpoint CPU per call per side, µs. */
  endpointUs: Record<HopSide, number>;
}

export interface HopOptions {
  connections: number;
  durationS: number;
  warmupS: number;
  rounds: number;
  quietMaxMs: number;
  fetchAdapter: FetchAdapter;
  identity: boolean;
  log: (line: string) => void;
}

/**
 * The version's worker behind a main module that checks request identity as the router does
 * (router-identity.js), so the socket can serve it with no router in front.
 */
function checkingIdentityFirst(config: WorkerdConfig, service: string, main: string, routerModules: readonly Module[], keys: readonly string[] | null): void {
  const svc = config.services.find((s) => s.name === service);
  if (!svc || !("worker" in svc)) throw new Error(`hop: no worker ${service} in the config`);
  const identity = routerModules.find((m) => m.name === "router-identity.js");
  if (!identity) throw new Error("hop: router-identity.js is not among the router's modules");
  const lane = [
    'import { checkIdentity } from "./router-identity.js";',
    `import bundle from ${JSON.stringify(`./${main}`)};`,
    "export default {",
    "  async fetch(request, env, ctx) {",
    "    const path = new URL(request.url).pathname;",
    "    const denied = await checkIdentity(request, env, path, path.split(\"/\", 3));",
    "    if (denied) return new Response(`gridiron: unauthorized: ${denied}\\n`, { status: 401 });",
    "    return bundle.fetch(request, env, ctx);",
    "  },",
    "};",
  ].join("\n");
  // workerd's main module is the first.
  svc.worker.modules = [{ name: "__lane__.js", esModule: lane }, identity, ...svc.worker.modules];
  svc.worker.bindings = [...svc.worker.bindings, { name: IDENTITY_BINDING, json: identityBinding(keys) }];
}

/** Runs `fn` with every config started on a scratch workerd of its own, all at once. */
async function withAll<T>(configs: { config: WorkerdConfig; loader: boolean }[], cleanup: Cleanup, fn: (ws: ScratchWorkerd[]) => Promise<T>, started: ScratchWorkerd[] = []): Promise<T> {
  const next = configs[started.length];
  if (!next) return fn(started);
  return withScratchWorkerd(next.config, { loader: next.loader, cleanup }, (w) => withAll(configs, cleanup, fn, [...started, w]));
}

export async function measureHop(root: string, cleanup: Cleanup, o: HopOptions): Promise<HopResult> {
  const dir = await mkdtemp(path.join(root, "hop-"));
  const template = (await buildService("greeter", path.join(dir, "template"), { fetchAdapter: o.fetchAdapter })).dir;
  const router = await readRouterModules();
  const workerd = SIDES.filter((s) => s !== "node peer" && !MESH_SIDES.includes(s));
  // A mesh for its restate-server (signing with the mesh's key unless identity is off), its one
  // cell and its one lane, each serving a further copy (the first placed takes the lane).
  const meshCopies = [workerd.length + 1, workerd.length + 2];
  const meshDirsByIndex = new Map<number, string>();
  for (const i of meshCopies) meshDirsByIndex.set(i, path.basename(await writeDensityBundle(template, meshDirs(root, "hop").bundlesDir, i)));
  const mesh = await startBenchMesh(root, "hop", cleanup, { ...(o.identity ? {} : { GRIDIRON_REQUEST_IDENTITY: "false" }), GRIDIRON_CELLS: "1", GRIDIRON_LANES: "1" });
  const key = o.identity ? (await readFile(path.join(mesh.dataDir, "identity", "public-key"), "utf8")).trim() : undefined;
  const policy = { identityKeys: key ? [key] : null, outbound: "none" as const };
  const built = await Promise.all(workerd.map(async (side, i) => {
    const bundleDir = await writeDensityBundle(template, path.join(dir, "bundles"), i + 1);
    const b = await readBundle(bundleDir, DEFAULT_LIMITS);
    let config: WorkerdConfig;
    if (side === "loader, via router") {
      const versions = path.join(dir, `versions-${i}`);
      await cp(bundleDir, path.join(versions, b.spec.service, b.spec.version, "bundle"), { recursive: true });
      config = { ...buildLoaderConfig([b.spec], router, policy, versions), v8Flags: [...LOADER_V8_FLAGS] };
    } else {
      config = { ...buildWorkerdConfig([{ spec: b.spec, files: b.files }], router, policy), v8Flags: [...V8_FLAGS] };
      if (side.startsWith("direct")) config.sockets[0]!.service = workerServiceName(b.spec.service, b.spec.version);
      if (side === "direct, checks identity") checkingIdentityFirst(config, workerServiceName(b.spec.service, b.spec.version), b.spec.main, router, policy.identityKeys);
    }
    return { side, config, loader: side === "loader, via router", path: `/${b.spec.service}/${b.spec.version}/`, service: densityService(i + 1) };
  }));

  const admin = new RestateAdmin(mesh.adminUrl);
  try {
    const peer = await startNodePeer(mesh.adminUrl, path.join(root, "hop-peer.log"), cleanup, key ? { BENCH_IDENTITY_KEY: key } : {});
    try {
      return await withAll(built, cleanup, async (ws) => {
        const paths = new Map<HopSide, string>([["node peer", "/NodeGreeter/greet"]]);
        const onLane = await waitFor("the mesh's copies to serve, one on its lane", async () => {
          const cells = (await mesh.status()).workerd.cells ?? [];
          const lane = cells.find((c) => c.lane)?.versions[0]?.split("/")[0];
          return lane && cells.some((c) => !c.lane && c.versions.length > 0) ? lane : undefined;
        }, 60_000);
        for (const i of meshCopies) paths.set(meshDirsByIndex.get(i) === onLane ? "mesh lane" : "mesh cell", `/${densityService(i)}/greet`);
        const pids: Record<string, number> = { "node peer": peer.pid };
        for (const [i, b] of built.entries()) {
          await admin.register({ uri: `http://127.0.0.1:${ws[i]!.port}${b.path}`, force: true });
          paths.set(b.side, `/${b.service}/greet`);
          pids[b.side] = ws[i]!.pid;
        }
        for (const [side, p] of paths) await waitFor(`${side} to answer through ingress`, async () => ((await mesh.call(p, "x")).status === 200 ? true : undefined), 30_000);
        const roles = meshRoles(mesh.dataDir, pids);
        const runs: HopRun[] = [];
        for (let round = 0; round < o.rounds; round++) {
          for (const side of round % 2 === 0 ? SIDES : [...SIDES].reverse()) {
            const spec = { url: mesh.ingressUrl, path: () => paths.get(side)!, body: '"bench"', connections: o.connections };
            if (o.quietMaxMs > 0) await waitQuiet(roles, { maxMs: o.quietMaxMs });
            if (o.warmupS > 0) await runLoad({ ...spec, durationS: o.warmupS });
            const done = await measureCpu(roles);
            const l = await runLoad({ ...spec, durationS: o.durationS });
            const cpu = await done();
            const per = (cores: number | undefined) => (l.rps > 0 ? ((cores ?? 0) * 1e6) / l.rps : 0);
            const run = { side, round: round + 1, rps: l.rps, failed: l.errors + l.non2xx + l.mismatches, endpointUs: per(cpu.roles[MESH_SIDES.includes(side) ? "workerd" : side]), restateUs: per(cpu.roles["restate-server"]), foreign: cpu.foreign };
            runs.push(run);
            o.log(`  ${side.padEnd(18)} round ${run.round}: ${Math.round(l.rps)} req/s, endpoint ${Math.round(run.endpointUs)} µs/call, restate ${Math.round(run.restateUs)} µs/call, failed ${run.failed}, foreign ${cpu.foreign.toFixed(2)}`);
          }
        }
        const endpointUs = Object.fromEntries(SIDES.map((s) => [s, mean(runs.filter((r) => r.side === s).map((r) => r.endpointUs))])) as Record<HopSide, number>;
        return { identity: o.identity, runs, endpointUs };
      });
    } finally {
      await peer.stop();
    }
  } finally {
    admin.close();
    await mesh.stop();
  }
}

export function renderHop(h: HopResult, table: (header: string[], rows: string[][]) => string): string[] {
  const row = (side: HopSide) => {
    const rs = h.runs.filter((r) => r.side === side);
    return [side, String(Math.round(mean(rs.map((r) => r.rps)))), String(Math.round(h.endpointUs[side])), String(Math.round(mean(rs.map((r) => r.restateUs)))), String(rs.reduce((n, r) => n + r.failed, 0))];
  };
  const lane = h.endpointUs["direct, checks identity"];
  return [
    `8. The router's hop through Restate (Greeter.greet; request identity ${h.identity ? "on: Restate signs, every side but \"direct\" verifies" : "off on every side"}; a scratch workerd per side, and a mesh's own cell and lane)`,
    table(["endpoint", "req/s", "endpoint µs/call", "restate µs/call", "failed"], SIDES.map(row)),
    `   the hop (mesh cell − direct, checks identity): ${Math.round(h.endpointUs["mesh cell"] - lane)} µs per call; direct, checks identity / node peer: ${(lane / h.endpointUs["node peer"]).toFixed(2)}x the peer's endpoint CPU; mesh lane / node peer: ${(h.endpointUs["mesh lane"] / h.endpointUs["node peer"]).toFixed(2)}x`,
  ];
}
