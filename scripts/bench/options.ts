// `npm run bench`'s command line: the sections, the two profiles and every option, checked.
import { parseArgs } from "node:util";
import { FETCH_ADAPTERS, type FetchAdapter } from "../../reconciler/build/service.ts";
import { WORKERD_MODES } from "../../reconciler/workerd/build.ts";
import { DENSITY_PARTS, type DensityPart } from "./density.ts";

export const SECTIONS = ["invocations", "deploy", "load", "reconcile", "cells", "density", "ramp", "hop"] as const;
export type Section = (typeof SECTIONS)[number];

const PROFILES = {
  full: {
    name: "full",
    invocations: { connections: 32, durationS: 10, warmupS: 2, rounds: 2, keys: 100, quietMaxMs: 15_000 },
    deployLatency: { deploys: 12 },
    underLoad: { deploys: 10, rate: 200, connections: 16, steadyS: 10, quietMaxMs: 15_000 },
    reconcile: { sizes: [10, 100, 500], noopPasses: 5, oneChangePasses: 3, growBudgetMs: 240_000 },
    cells: { connections: 16, durationS: 20, rate: 200, hangMs: 2000, pauseWaitMs: 90_000 },
    density: { sizes: [1, 10, 100, 1000], nodeProcesses: [1, 10], coldSamples: 50, concurrency: 4, growBudgetMs: 900_000 },
    ramp: { connections: 16, durationS: 8, warmupS: 3, quietMaxMs: 15_000 },
    hop: { connections: 32, durationS: 10, warmupS: 2, rounds: 2, quietMaxMs: 15_000 },
  },
  quick: {
    name: "quick",
    invocations: { connections: 32, durationS: 3, warmupS: 1, rounds: 1, keys: 100, quietMaxMs: 3_000 },
    deployLatency: { deploys: 5 },
    underLoad: { deploys: 5, rate: 200, connections: 16, steadyS: 4, quietMaxMs: 3_000 },
    reconcile: { sizes: [10, 100], noopPasses: 3, oneChangePasses: 2, growBudgetMs: 60_000 },
    cells: { connections: 16, durationS: 8, rate: 200, hangMs: 2000, pauseWaitMs: 70_000 },
    density: { sizes: [1, 10, 100], nodeProcesses: [1, 10], coldSamples: 20, concurrency: 4, growBudgetMs: 180_000 },
    ramp: { connections: 16, durationS: 3, warmupS: 1, quietMaxMs: 3_000 },
    hop: { connections: 32, durationS: 3, warmupS: 1, rounds: 1, quietMaxMs: 3_000 },
  },
};

export const USAGE = `usage: npm run bench [-- --quick] [--only ${SECTIONS.join(",")}] [--json <file>] [--sizes 10,100,500] [--density-sizes 1,10,100,1000] [--deploys N] [--mode loader|static]
                     [--density-parts mesh,direct]  density through Restate (a mesh, and the Node alternative) and/or workerd alone
                     [--loaded-max N]   the density section's --workerd-loaded-max (default: the daemon's)
                     [--density-v8-flags=--a,--b]  V8 flags of the density section's workerd-alone cells (default: the daemon's)
                     [--cells N]        the demo mesh's --cells (default: the daemon's; greeter and counter then get a cell each)
                     [--lanes N]        the demo and reconcile meshes' --lanes (default: the daemon's, 0): new versions on lanes of their own
                     [--fetch-adapter gridiron|sdk]  how the demo bundles are built (default gridiron; sdk: the SDK's own adapter)
                     [--sdk-log WARN]   RESTATE_LOGGING for both sides (default: the SDKs' own, INFO: 2 lines per call)
                     [--no-identity]    no request-signature check on either side (default: both verify Restate's signature)
                     [--peer http1|serve]  the invocations' Node SDK peer: HTTP/1.1 request-response (default, as
                                        Gridiron's versions are served) or the SDK quickstart's restate.serve() (HTTP/2)
                     [--rounds N]       measured rounds per side in the invocations and hop sections (alternating sides)`;

export type Profile = (typeof PROFILES)["full"];

export interface BenchArgs {
  profile: Profile;
  only: Set<Section>;
  densityParts: DensityPart[];
  loadedMax: number | undefined;
  mode: string;
  /** Environment of the benchmark's meshes: the workerd mode, and --cells and --lanes if given. */
  modeEnv: Record<string, string>;
  cells: string | undefined;
  fetchAdapter: FetchAdapter;
  sdkLog: string | undefined;
  peer: "http1" | "serve";
  /** Request identity on both sides (off with --no-identity). */
  identity: boolean;
  densityV8Flags: string[] | undefined;
  json: string | undefined;
}

function refuse(message: string): { exit: number } {
  console.error(`${message}\n${USAGE}`);
  return { exit: 2 };
}

/** The parsed options, or the exit code when there is nothing to run (--help, or a bad option, said on stderr). */
export function parseBenchArgs(argv: string[]): { args: BenchArgs } | { exit: number } {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        quick: { type: "boolean" }, only: { type: "string" }, json: { type: "string" },
        sizes: { type: "string" }, "density-sizes": { type: "string" }, "density-parts": { type: "string" }, "loaded-max": { type: "string" }, "density-v8-flags": { type: "string" }, cells: { type: "string" }, lanes: { type: "string" }, deploys: { type: "string" }, "sdk-log": { type: "string" }, "no-identity": { type: "boolean" }, mode: { type: "string" }, "fetch-adapter": { type: "string" }, peer: { type: "string" }, rounds: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    return refuse((err as Error).message);
  }
  if (values.help) {
    console.log(USAGE);
    return { exit: 0 };
  }
  const profile = structuredClone(values.quick ? PROFILES.quick : PROFILES.full);
  const only = new Set<Section>();
  for (const s of (values.only ?? SECTIONS.join(",")).split(",").map((x) => x.trim()).filter(Boolean)) {
    if (!(SECTIONS as readonly string[]).includes(s)) {
      return refuse(`unknown section "${s}"`);
    }
    only.add(s as Section);
  }
  if (values["density-sizes"]) {
    const sizes = values["density-sizes"].split(",").map(Number);
    if (sizes.some((n) => !Number.isInteger(n) || n < 1)) {
      return refuse(`--density-sizes expects whole numbers like 1,10,100,1000`);
    }
    profile.density.sizes = sizes.sort((a, b) => a - b);
  }
  const densityParts = (values["density-parts"] ?? DENSITY_PARTS.join(",")).split(",").map((x) => x.trim()) as DensityPart[];
  if (densityParts.some((p) => !DENSITY_PARTS.includes(p))) {
    return refuse(`--density-parts expects ${DENSITY_PARTS.join(" and/or ")}`);
  }
  const loadedMax = values["loaded-max"] === undefined ? undefined : Number(values["loaded-max"]);
  if (loadedMax !== undefined && !(Number.isInteger(loadedMax) && loadedMax >= 1)) {
    return refuse(`--loaded-max expects a whole number ≥ 1`);
  }
  if (values.sizes) {
    const sizes = values.sizes.split(",").map(Number);
    if (sizes.some((n) => !Number.isInteger(n) || n < 1)) {
      return refuse(`--sizes expects whole numbers like 10,100,500`);
    }
    profile.reconcile.sizes = sizes.sort((a, b) => a - b);
  }
  const mode = values.mode ?? "loader";
  if (!(WORKERD_MODES as readonly string[]).includes(mode)) {
    return refuse(`--mode expects ${WORKERD_MODES.join(" or ")}`);
  }
  const modeEnv: Record<string, string> = { GRIDIRON_WORKERD_MODE: mode };
  if (values.cells !== undefined) {
    if (!/^[1-9]\d*$/.test(values.cells)) {
      return refuse(`--cells expects a whole number ≥ 1`);
    }
    modeEnv.GRIDIRON_CELLS = values.cells;
  }
  if (values.lanes !== undefined) {
    if (!/^\d+$/.test(values.lanes)) return refuse(`--lanes expects a whole number ≥ 0`);
    modeEnv.GRIDIRON_LANES = values.lanes;
  }
  const fetchAdapter = values["fetch-adapter"] ?? "gridiron";
  if (!(FETCH_ADAPTERS as readonly string[]).includes(fetchAdapter)) {
    return refuse(`--fetch-adapter expects ${FETCH_ADAPTERS.join(" or ")}`);
  }
  const sdkLog = values["sdk-log"]?.toUpperCase();
  if (sdkLog !== undefined && !["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].includes(sdkLog)) {
    return refuse(`--sdk-log expects TRACE, DEBUG, INFO, WARN or ERROR`);
  }
  const peerKind = values.peer ?? "http1";
  if (peerKind !== "http1" && peerKind !== "serve") {
    return refuse(`--peer expects http1 or serve`);
  }
  if (values.rounds !== undefined) {
    if (!/^[1-9]\d*$/.test(values.rounds)) {
      return refuse(`--rounds expects a whole number ≥ 1`);
    }
    profile.invocations.rounds = Number(values.rounds);
    profile.hop.rounds = Number(values.rounds);
  }
  if (values.deploys) {
    const n = Number(values.deploys);
    if (!Number.isInteger(n) || n < 1) {
      return refuse(`--deploys expects a whole number`);
    }
    profile.deployLatency.deploys = n;
    profile.underLoad.deploys = n;
  }
  return {
    args: {
      profile, only, densityParts, loadedMax, mode, modeEnv, cells: values.cells, fetchAdapter: fetchAdapter as FetchAdapter, sdkLog,
      peer: peerKind, identity: !values["no-identity"], densityV8Flags: values["density-v8-flags"]?.split(",").filter(Boolean), json: values.json,
    },
  };
}
