// The router's modules (router.js and the modules it imports), read once per process and handed to
// the config builders (build.ts), which stay pure. This is the one place that reads them.
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
