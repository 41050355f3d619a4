// The router's modules as the config gets them: main first, every module it imports listed (a
// module left out would only fail when workerd loads the config), each read from its file.
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ROUTER_FILE, ROUTER_MODULE_NAMES, readRouterModules } from "../../reconciler/workerd/router-source.ts";

const DIR = path.dirname(ROUTER_FILE);
// Static imports at the start of a line; the module text router.js writes for versions is in strings.
const IMPORT_RE = /^(?:import|export)\b[^;]*?\bfrom\s+"\.\/([^"]+)";/gm;

describe("readRouterModules", () => {
  it("returns router.js first, then the other router modules, each with its file's text", async () => {
    const modules = await readRouterModules();
    expect(modules.map((m) => m.name)).toEqual(ROUTER_MODULE_NAMES);
    expect(modules[0]!.name).toBe(path.basename(ROUTER_FILE));
    for (const m of modules) expect(m).toEqual({ name: m.name, esModule: await readFile(path.join(DIR, m.name), "utf8") });
  });

  it("lists every module a router module imports, and every router*.js file beside it", async () => {
    const modules = await readRouterModules();
    const names = new Set(modules.map((m) => m.name));
    const imported = new Set([modules[0]!.name]);
    for (const m of modules) {
      for (const [, name] of ("esModule" in m ? m.esModule : "").matchAll(IMPORT_RE)) {
        expect(names, `${m.name} imports ./${name}`).toContain(name);
        imported.add(name!);
      }
    }
    expect(imported).toEqual(names);
    const files = (await readdir(DIR)).filter((f) => /^router.*\.js$/.test(f));
    expect([...names].sort()).toEqual(files.sort());
  });

  it("reads once: later calls return the same modules", async () => {
    expect(await readRouterModules()).toBe(await readRouterModules());
  });
});
