// Suspensions: `gridiron suspend [<service>]` stops Gridiron from changing what a service serves
// (or, without a service, anything at all) until `gridiron resume`. They outlive a restart, so
// they are kept like rollback pins: a file in the data dir on one machine, Restate in a cluster
// (node/cluster-suspensions.ts), so that the registrar and every node hold back the same services.
import { mkdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { writeFileAtomic } from "../core/atomic-write.ts";

/** The key of a suspension of the whole mesh (no service name can be "*"). */
export const MESH = "*";

export interface Suspension {
  /** When it was suspended (ISO time). */
  since: string;
  /** Who asked, as the client said (the CLI sends user@host). */
  by?: string;
  reason?: string;
}

/** Where suspensions live: a file in the data dir (one machine), or Restate (a cluster). */
export interface SuspensionStore {
  /** Reads them again (a pass starts with this). */
  load(): Promise<void>;
  /** By service name, MESH for the whole mesh. */
  entries(): [string, Suspension][];
  set(scope: string, s: Suspension): Promise<void>;
  delete(scope: string): Promise<void>;
}

export const SUSPENSIONS_FILE = "suspensions.json";

/** Keeps only well-formed records, so a hand-edited file cannot make a pass throw later. */
export function parseSuspensions(value: unknown): Map<string, Suspension> {
  const out = new Map<string, Suspension>();
  if (typeof value !== "object" || value === null) return out;
  for (const [scope, s] of Object.entries(value as Record<string, unknown>)) {
    if (typeof s !== "object" || s === null || typeof (s as Suspension).since !== "string") continue;
    const { since, by, reason } = s as Suspension;
    out.set(scope, { since, ...(typeof by === "string" ? { by } : {}), ...(typeof reason === "string" ? { reason } : {}) });
  }
  return out;
}

export class Suspensions implements SuspensionStore {
  readonly #file: string;
  #all = new Map<string, Suspension>();

  constructor(dataDir: string) {
    this.#file = join(dataDir, SUSPENSIONS_FILE);
  }

  async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.#file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      return;
    }
    try {
      this.#all = parseSuspensions(JSON.parse(text));
    } catch (err) {
      throw new Error(`${this.#file} is not JSON (${(err as Error).message}); fix it or delete it to resume everything`);
    }
  }

  entries(): [string, Suspension][] {
    return [...this.#all];
  }

  async set(scope: string, s: Suspension): Promise<void> {
    this.#all.set(scope, s);
    await this.#save();
  }

  async delete(scope: string): Promise<void> {
    if (this.#all.delete(scope)) await this.#save();
  }

  async #save(): Promise<void> {
    await mkdir(dirname(this.#file), { recursive: true });
    await writeFileAtomic(this.#file, JSON.stringify(Object.fromEntries(this.#all), null, 2));
  }
}
