// The endpoints alone, without Restate, on a scratch workerd serving the greeter bundle (through
// Gridiron's router and, for comparison, with the socket wired straight to the worker) and on the
// Node peer: GET /discover (the SDK builds its endpoint manifest) and an invocation of greet (the
// request body Restate would send for a first attempt, the same bytes every time). Shows the
// per-request cost of each HTTP server + SDK + fetch adapter and of the router hop, apart from
// what Restate adds. The scratch config is built by the reconciler's own buildWorkerdConfig, with
// request identity off (nobody signs these requests) and no outbound network.
import { DEFAULT_LIMITS, readBundle } from "../../reconciler/source/bundle.ts";
import { buildWorkerdConfig, workerServiceName } from "../../reconciler/workerd/build.ts";
import { readRouterModules } from "../../reconciler/workerd/router-source.ts";
import type { Cleanup } from "./cleanup.ts";
import { measureCpu, waitQuiet, type CpuUse, type RoleOf } from "./cpu.ts";
import { runLoad, type LoadResult, type LoadSpec } from "./load.ts";
import { withScratchWorkerd } from "./scratch-workerd.ts";
import { INVOCATION_CONTENT_TYPE, invocationRequestBody } from "../../test/helpers/restate-protocol.ts";

const ACCEPT = { accept: "application/vnd.restate.endpointmanifest.v3+json" };
const INVOKE_BODY = Buffer.from(invocationRequestBody("Ana"));

/** What each measured request is: GET /discover, or POST …/invoke/<service>/greet. */
export type EndpointRequest = "discover" | "invoke greet";

function requestSpec(request: EndpointRequest): Pick<LoadSpec, "method" | "headers" | "body" | "verify"> {
  return request === "discover"
    ? { method: "GET", headers: ACCEPT, verify: (b: string) => b.includes('"services"') }
    : { method: "POST", headers: { "content-type": INVOCATION_CONTENT_TYPE, accept: INVOCATION_CONTENT_TYPE }, body: INVOKE_BODY, verify: (b: string) => b.includes("Hello, Ana!") };
}

export interface EndpointRun {
  request: EndpointRequest;
  name: string;
  load: LoadResult;
  /** Cores used by the server process (workerd or the node peer). */
  serverCores: number;
  cpu: CpuUse;
}

export interface EndpointOptions {
  /** A built greeter bundle directory. */
  bundleDir: string;
  /** The Node peer's base URL, e.g. http://127.0.0.1:1234 (serves /discover and /invoke/NodeGreeter/greet). */
  nodeUrl: string;
  nodePid: number;
  connections: number;
  durationS: number;
  warmupS: number;
  quietMaxMs: number;
  log: (l: string) => void;
}

async function loadOne(request: EndpointRequest, name: string, url: string, serverPid: number, o: EndpointOptions): Promise<EndpointRun> {
  const roles: RoleOf = async () => new Map([[serverPid, "server"], [process.pid, "bench (autocannon)"]]);
  const { origin, pathname } = new URL(url);
  const spec = { url: origin, path: () => pathname, connections: o.connections, ...requestSpec(request) };
  if (o.quietMaxMs > 0) await waitQuiet(roles, { maxMs: o.quietMaxMs });
  if (o.warmupS > 0) await runLoad({ ...spec, durationS: o.warmupS });
  const done = await measureCpu(roles);
  const load = await runLoad({ ...spec, durationS: o.durationS });
  const cpu = await done();
  const serverCores = cpu.roles.server ?? 0;
  o.log(`  ${request.padEnd(12)} ${name.padEnd(20)} ${Math.round(load.rps)} req/s, p99 ${load.p99} ms, server ${serverCores.toFixed(2)} cores = ${load.rps > 0 ? Math.round((serverCores * 1e6) / load.rps) : "-"} µs/req, foreign ${cpu.foreign.toFixed(2)}`);
  return { request, name, load, serverCores, cpu };
}

export async function measureEndpointsAlone(o: EndpointOptions, cleanup: Cleanup): Promise<EndpointRun[]> {
  const bundle = await readBundle(o.bundleDir, DEFAULT_LIMITS);
  const router = await readRouterModules();
  const runs: EndpointRun[] = [];
  const version = { spec: bundle.spec, files: bundle.files };
  for (const mode of ["router", "direct"] as const) {
    const config = buildWorkerdConfig([version], router, { identityKeys: null, outbound: "none" });
    // "direct": the socket serves the version's worker itself, no router hop.
    if (mode === "direct") config.sockets[0]!.service = workerServiceName(bundle.spec.service, bundle.spec.version);
    await withScratchWorkerd(config, { loader: false, cleanup }, async (w) => {
      const base = `http://127.0.0.1:${w.port}/${bundle.spec.service}/${bundle.spec.version}`;
      const name = mode === "router" ? "workerd via router" : "workerd, no router";
      runs.push(await loadOne("discover", name, `${base}/discover`, w.pid, o));
      runs.push(await loadOne("invoke greet", name, `${base}/invoke/Greeter/greet`, w.pid, o));
    });
  }
  runs.push(await loadOne("discover", "node peer", `${o.nodeUrl}/discover`, o.nodePid, o));
  runs.push(await loadOne("invoke greet", "node peer", `${o.nodeUrl}/invoke/NodeGreeter/greet`, o.nodePid, o));
  return runs;
}
