// The router's modules (router.js and the modules it imports), and a lane's (lane.js and the same
// two), read once per process and handed to the config builders (build.ts), which stay pure. This is
// the one place that reads them.
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { Module } from "./config.ts";

/** The router's main module, beside this file. */
export const ROUTER_FILE = fileURLToPath(new URL("./router.js", import.meta.url));

/**
 * Every module of the router, main first (workerd runs a worker's first module as its main). Each
 * is named as router.js imports it ("./<name>"), so the names are also the files beside this one.
 */
export const ROUTER_MODULE_NAMES: readonly string[] = ["router.js", "router-identity.js", "router-collections.js"];

let modules: readonly Module[] | undefined;

/** The router's modules as workerd config modules, main first; read on the first call only. */
export async function readRouterModules(): Promise<readonly Module[]> {
  modules ??= Object.freeze(await Promise.all(ROUTER_MODULE_NAMES.map(async (name): Promise<Module> => ({
    name,
    esModule: await readFile(new URL(`./${name}`, import.meta.url), "utf8"),
  }))));
  return modules;
}

/** Where a lane's own modules sit among the bundle's (build.ts, buildLaneConfig). */
export const LANE_DIR = "__gridiron__";
/** lane.js and the router modules it imports: the same files, named under LANE_DIR. */
export const LANE_MODULE_NAMES: readonly string[] = ["lane.js", "router-identity.js", "router-collections.js"];

let laneModules: readonly Module[] | undefined;

/** A lane's own modules (lane.js first), named under LANE_DIR; read on the first call only. */
export async function readLaneModules(): Promise<readonly Module[]> {
  laneModules ??= Object.freeze(await Promise.all(LANE_MODULE_NAMES.map(async (name): Promise<Module> => ({
    name: `${LANE_DIR}/${name}`,
    esModule: await readFile(new URL(`./${name}`, import.meta.url), "utf8"),
  }))));
  return laneModules;
}
