// The density section's versions: copies of the built greeter, each declaring its own Restate
// service (D000001, D000002, …) so every copy is a distinct version that registers side by side.
import { copyFile, link, mkdir, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";

/** Restate service name of density version i: 7 characters, as long as "Greeter", so the source map stays exact. */
export const densityService = (i: number): string => `D${String(i).padStart(6, "0")}`;
export const densityBundleName = (i: number): string => `dens-${String(i).padStart(4, "0")}`;

/**
 * A copy of the built greeter declaring Restate service densityService(i), written atomically;
 * returns its directory. `linkFiles`: files hard-linked instead of copied (the SDK's wasm, equal
 * in every copy, as it is in bundles built with one SDK release).
 */
export async function writeDensityBundle(template: string, bundlesDir: string, i: number, opts: { linkFiles?: readonly string[] } = {}): Promise<string> {
  const name = densityBundleName(i);
  const tmp = path.join(bundlesDir, `.${name}.tmp`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  for (const f of await readdir(template)) {
    if (f === "index.js") {
      const js = await readFile(path.join(template, f), "utf8");
      if (!js.includes('name: "Greeter"')) throw new Error(`density: the greeter bundle no longer declares name: "Greeter" (${template})`);
      await writeFile(path.join(tmp, f), js.replace('name: "Greeter"', `name: "${densityService(i)}"`));
    } else if (f === "gridiron.json") {
      const manifest = JSON.parse(await readFile(path.join(template, f), "utf8")) as Record<string, unknown>;
      await writeFile(path.join(tmp, f), `${JSON.stringify({ ...manifest, name }, null, 2)}\n`);
    } else if (opts.linkFiles?.includes(f)) {
      await link(path.join(template, f), path.join(tmp, f));
    } else {
      await copyFile(path.join(template, f), path.join(tmp, f));
    }
  }
  const dir = path.join(bundlesDir, name);
  await rename(tmp, dir);
  return dir;
}
