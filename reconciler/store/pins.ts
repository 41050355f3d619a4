// Rollback pins: `gridiron rollback` makes an older stored version the desired one for a service,
// overriding the source until the source itself moves on (its version for that service changes),
// so a rollback is instant, needs no rebuild, and is not undone by the next level-triggered pass.
import { mkdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { writeFileAtomic } from "../core/atomic-write.ts";

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

export class Pins implements PinStore {
  readonly #file: string;
  #pins = new Map<string, Pin>();

  constructor(dataDir: string) {
    this.#file = join(dataDir, "pins.json");
  }

  async load(): Promise<void> {
    try {
      this.#pins = new Map(Object.entries(JSON.parse(await readFile(this.#file, "utf8")) as Record<string, Pin>));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }

  entries(): [string, Pin][] {
    return [...this.#pins];
  }

  async set(service: string, pin: Pin): Promise<void> {
    this.#pins.set(service, pin);
    await this.#save();
  }

  async delete(service: string): Promise<void> {
    if (this.#pins.delete(service)) await this.#save();
  }

  async #save(): Promise<void> {
    await mkdir(dirname(this.#file), { recursive: true });
    await writeFileAtomic(this.#file, JSON.stringify(Object.fromEntries(this.#pins), null, 2));
  }
}
