// Rollback pins: `gridiron rollback` makes an older stored version the desired one for a service,
// overriding the source until the source itself moves on (its version for that service changes),
// so a rollback is instant, needs no rebuild, and is not undone by the next level-triggered pass.
import { join } from "node:path";
import { JsonMapFile } from "./json-map-file.ts";

export interface Pin {
  version: string;
  /** The source's version for the service when the pin was made (null: the source had none). */
  sourceVersion: string | null;
  /** Allow Restate to accept the rollback even if it removes handlers the newer version added. */
  breaking: boolean;
  at: string;
}

/** Where pins live: a file in the data dir (one machine), or Restate (a cluster: every node sees them). */
export interface PinStore {
  /** Reads the pins again (a pass starts with this). */
  load(): Promise<void>;
  entries(): [string, Pin][];
  set(service: string, pin: Pin): Promise<void>;
  delete(service: string): Promise<void>;
}

export class Pins extends JsonMapFile<Pin> implements PinStore {
  constructor(dataDir: string) {
    super(join(dataDir, "pins.json"), (value) => new Map(Object.entries(value as Record<string, Pin>)), "fix it or delete it to drop every rollback pin");
  }
}
