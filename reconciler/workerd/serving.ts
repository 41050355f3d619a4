// What workerd serves, and the one way to change it. The reconciler decides which versions serve;
// this module makes workerd serve exactly those:
// - loader mode: the live set changes in place over the serving generation's control socket (the
//   router unloads a version as it leaves the live set, so no fresh generation is needed for it);
// - static mode: a new config with every live version compiled in, and a new generation;
// - a lane (--lanes): static, with one version at most, which its own main module serves.
// Either way the config is written first (temp file + rename) and committed only once workerd took
// it, so a crash restart always finds a complete config that matches what served last.
import type { Logger } from "pino";
import { GridironError } from "../core/errors.ts";
import { fault } from "../core/faults.ts";
import { keyOf, type VersionRef } from "../source/names.ts";
import type { VersionStore } from "../store/versions.ts";
import { buildLaneConfig, buildLoaderConfig, buildWorkerdConfig, liveSet, type ServedVersion, type WorkerdMode, type WorkerdPolicy } from "./build.ts";
import type { ConfigFiles } from "./config-files.ts";
import { encodeWorkerdConfig } from "./encode.ts";
import type { WorkerdProcess } from "./process.ts";
import { readLaneModules, readRouterModules } from "./router-source.ts";

export interface ServingDeps {
  workerd: WorkerdProcess;
  configFiles: ConfigFiles;
  store: VersionStore;
  policy: WorkerdPolicy;
  /** Omitted: "static" (the daemon's default is "loader", node/options.ts). */
  mode?: WorkerdMode;
  /** Loader mode: the version store's root, which the router reads module bytes from. */
  versionsDir?: string;
  /** A lane: one version at most (placement.ts), served without the router; `mode` is ignored. */
  lane?: boolean;
}

export class Serving {
  readonly #d: ServingDeps;
  #served: VersionRef[] = [];

  constructor(deps: ServingDeps) {
    this.#d = deps;
  }

  get mode(): WorkerdMode {
    return this.#d.lane ? "static" : (this.#d.mode ?? "static");
  }

  get lane(): boolean {
    return this.#d.lane ?? false;
  }

  /** The versions the serving generation serves. */
  get served(): VersionRef[] {
    return this.#served;
  }

  /** Starts the first generation serving `refs`; returns the port it listens on. */
  async start(refs: VersionRef[]): Promise<number> {
    const { path } = await this.#writeConfig(refs, new Map());
    const { port } = await this.#d.workerd.start(path);
    await this.#d.configFiles.commit(path);
    this.#served = refs;
    return port;
  }

  /**
   * Makes workerd serve exactly `serve`. `candidates` are versions whose bytes the pass already
   * holds; the rest come from the store. Nothing changes when the set is the same.
   */
  async apply(serve: VersionRef[], candidates: ReadonlyMap<string, ServedVersion>, log: Logger): Promise<void> {
    const current = new Set(this.#served.map(keyOf));
    if (serve.length === current.size && serve.every((v) => current.has(keyOf(v)))) return;
    const t0 = performance.now();
    const loader = this.mode === "loader";
    const keys = serve.map(keyOf);
    // A lane with nothing left to serve stops its process until the next version takes the lane.
    if (this.lane && serve.length === 0) {
      await this.#d.workerd.rest();
      this.#served = [];
      log.info({ ms: Math.round(performance.now() - t0) }, "lane emptied: its workerd stopped until a version takes it");
      return;
    }
    // Started at all (a crashed generation awaiting its restart counts: update() then only
    // changes the config the restart will read, and swap() launches the replacement itself).
    const started = this.#d.workerd.configPath !== undefined;
    const inPlace = loader && started;
    const { path, live } = await this.#writeConfig(serve, candidates);
    fault("after-config-write");
    try {
      // The fault points name the step that changes what serves, whichever way it is done.
      fault("before-swap");
      if (inPlace) {
        const { ms } = await this.#d.workerd.update(path, live);
        fault("after-swap");
        await this.#d.configFiles.commit(path);
        this.#served = serve;
        log.info({ versions: serve.length, serving: keys, updateMs: ms, ms: Math.round(performance.now() - t0) }, "workerd live set updated");
        return;
      }
      const { ms } = started ? await this.#d.workerd.swap(path) : { ms: (await this.#d.workerd.start(path), 0) };
      fault("after-swap");
      await this.#d.configFiles.commit(path);
      this.#served = serve;
      log.info({ versions: serve.length, serving: keys, handoverMs: ms, ms: Math.round(performance.now() - t0) }, "workerd config swapped");
    } catch (err) {
      await this.#d.configFiles.discard(path);
      throw err;
    }
  }

  async #writeConfig(serve: readonly VersionRef[], candidates: ReadonlyMap<string, ServedVersion>): Promise<{ path: string; live: unknown }> {
    const router = await readRouterModules();
    // Bytes of stored versions are checked against their digest (once per process) either way:
    // static mode compiles them into the config, loader mode's router reads them as they are.
    const versions: ServedVersion[] = [];
    for (const ref of serve) {
      const candidate = candidates.get(keyOf(ref));
      if (candidate) {
        versions.push(candidate);
        continue;
      }
      const stored = await this.#d.store.get(ref.service, ref.version);
      if (!stored) throw new GridironError("STORE_MISSING", `${keyOf(ref)} vanished from the version store`);
      versions.push({ spec: stored.spec, files: await this.#d.store.files(stored) });
    }
    if (this.lane) {
      if (versions.length > 1) throw new GridironError("INTERNAL", `a lane serves one version, not ${versions.map((v) => keyOf(v.spec)).join(", ")}`);
      return { path: await this.#d.configFiles.write(encodeWorkerdConfig(buildLaneConfig(versions[0], await readLaneModules(), router, this.#d.policy))), live: undefined };
    }
    if (this.mode === "loader") {
      if (this.#d.versionsDir === undefined) throw new GridironError("INTERNAL", "loader mode needs versionsDir");
      // Only specs go into the config: the router reads module bytes from the store itself.
      const specs = versions.map((v) => v.spec);
      const config = buildLoaderConfig(specs, router, this.#d.policy, this.#d.versionsDir);
      return { path: await this.#d.configFiles.write(encodeWorkerdConfig(config)), live: liveSet(specs) };
    }
    return { path: await this.#d.configFiles.write(encodeWorkerdConfig(buildWorkerdConfig(versions, router, this.#d.policy, { nameModules: true }))), live: undefined };
  }
}
