/**
 * A scratch workerd serving the real router in loader mode, for tests of what the router does with
 * loaded versions: bundles written from source text, stored as the daemon stores versions, and a
 * control socket of its own.
 */
import { cp, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import pino from "pino";
import { readBundle, type BundleSpec } from "../../reconciler/source/bundle.ts";
import { buildLoaderConfig, CONTROL_SOCKET, type WorkerdPolicy } from "../../reconciler/workerd/build.ts";
import { readRouterModules } from "../../reconciler/workerd/router-source.ts";
import type { WorkerdConfig } from "../../reconciler/workerd/config.ts";
import { encodeWorkerdConfig } from "../../reconciler/workerd/encode.ts";
import { startScratchWorkerd, type ScratchWorkerd } from "../../reconciler/workerd/scratch.ts";

export interface LoaderWorkerd {
  w: ScratchWorkerd;
  /** One spec per source, in the order given. */
  specs: BundleSpec[];
  config: WorkerdConfig;
  /** The generation's control socket (PUT /live, GET /collections). */
  socket: string;
}

/**
 * One bundle per `sources` entry (name → index.js text), an old compatibility date on purpose (what
 * the router adds to a version must not depend on a recent one), stored under `<root>/versions`
 * and served in loader mode with request identity off and no network.
 */
export async function startLoaderWorkerd(root: string, sources: Record<string, string>, policy: Partial<WorkerdPolicy> = {}): Promise<LoaderWorkerd> {
  const specs: BundleSpec[] = [];
  for (const [name, source] of Object.entries(sources)) {
    const dir = path.join(root, "src", name);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, "index.js"), source);
    await writeFile(path.join(dir, "gridiron.json"), JSON.stringify({ name, main: "index.js", compatibilityDate: "2022-01-01" }));
    const { spec } = await readBundle(dir);
    await cp(dir, path.join(root, "versions", spec.service, spec.version, "bundle"), { recursive: true });
    specs.push(spec);
  }
  const config = buildLoaderConfig(specs, await readRouterModules(), { identityKeys: null, outbound: "none", ...policy }, path.join(root, "versions"));
  const file = path.join(root, "config.bin");
  await writeFile(file, encodeWorkerdConfig(config));
  const socket = path.join(root, "c.sock");
  const w = await startScratchWorkerd(file, { logger: pino({ level: "silent" }), extraArgs: ["--experimental", "--socket-addr", `${CONTROL_SOCKET}=unix:${socket}`] });
  return { w, specs, config, socket };
}
