// A registrar's part of a pass (role registrar): before it, what every Ready node serves and
// whether this registrar holds the lock; after it, which versions wait for the nodes, a nudge to
// the nodes once per such version, and the cluster line of status. On a single machine (role
// all) and on a node it decides nothing: every service may be registered (or, on a node, the
// pass never registers).
import type { Logger } from "pino";
import type { ReconcilerDeps } from "./deps.ts";
import type { ClusterStatus } from "./status.ts";

/** A registrar waiting for the nodes to serve a new version asks again this soon (a deploy waits on it, unlike a drain). */
export const WAITING_POLL_MS = 200;

export class RegistrarTurn {
  readonly #d: Pick<ReconcilerDeps, "role" | "nodesServe" | "registrarLock" | "pokeNodes" | "cells">;
  #poked = new Set<string>();
  #last: ClusterStatus | undefined;

  constructor(d: Pick<ReconcilerDeps, "role" | "nodesServe" | "registrarLock" | "pokeNodes" | "cells">) {
    this.#d = d;
  }

  /** Before a pass: what the nodes serve, and which services this pass may register. */
  async before(): Promise<{ mayRegister: (service: string) => boolean; standby: boolean }> {
    if (this.#d.nodesServe) this.#d.cells.setRemoteServed(await this.#d.nodesServe());
    const lock = this.#d.registrarLock ? await this.#d.registrarLock.check() : undefined;
    this.#last = { role: this.#d.role ?? "all", ...(lock ? { lock: { held: lock.held, holder: lock.holder ?? null } } : {}) };
    return {
      mayRegister: (service) => !lock || lock.held || (lock.missing && service === lock.service),
      standby: lock !== undefined && !lock.held,
    };
  }

  /** After a pass: returns how soon the next pass should come (undefined: no sooner than usual). */
  after(waiting: readonly string[], log: Logger): number | undefined {
    // The nodes are asked for a pass once per version they do not serve yet, not on every poll.
    const fresh = waiting.filter((k) => !this.#poked.has(k));
    this.#poked = new Set(waiting);
    if (fresh.length > 0) {
      log.info({ waiting }, "not registered yet: waiting for every node to serve it");
      this.#d.pokeNodes?.();
    }
    if (this.#d.nodesServe) this.#last = { ...(this.#last ?? { role: this.#d.role ?? "all" }), waiting: [...waiting] };
    return waiting.length > 0 ? WAITING_POLL_MS : undefined;
  }

  /** A rollback was pinned: the nodes lay it over their source at their next pass. */
  pinned(): void {
    this.#d.pokeNodes?.();
  }

  /** The cluster line of status, with the lock as it is now (renewed in the background). */
  status(): ClusterStatus {
    const lock = this.#d.registrarLock?.current();
    return { ...(this.#last ?? { role: this.#d.role ?? "all" }), ...(lock ? { lock: { held: lock.held, holder: lock.holder ?? null } } : {}) };
  }
}
