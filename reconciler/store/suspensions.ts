// Suspensions: `gridiron suspend [<service>]` stops Gridiron from changing what a service serves
// (or, without a service, anything at all) until `gridiron resume`. They outlive a restart, so
// they are kept like rollback pins: a file in the data dir on one machine, Restate in a cluster
// (node/cluster-suspensions.ts), so that the registrar and every node hold back the same services.
import { join } from "node:path";
import { JsonMapFile } from "./json-map-file.ts";

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

export class Suspensions extends JsonMapFile<Suspension> implements SuspensionStore {
  constructor(dataDir: string) {
    super(join(dataDir, SUSPENSIONS_FILE), parseSuspensions, "fix it or delete it to resume everything");
  }
}
