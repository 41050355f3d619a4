// A map of records kept as one JSON object in a file of the data dir (rollback pins,
// suspensions): read at the start of a pass, written whole and atomically on every change.
import { mkdir, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { writeFileAtomic } from "../core/atomic-write.ts";

export class JsonMapFile<T> {
  readonly #file: string;
  readonly #parse: (value: unknown) => Map<string, T>;
  readonly #ifBroken: string;
  #all = new Map<string, T>();

  /** `parse` turns the file's JSON into records; `ifBroken` tells what to do with a file that is not JSON. */
  constructor(file: string, parse: (value: unknown) => Map<string, T>, ifBroken: string) {
    this.#file = file;
    this.#parse = parse;
    this.#ifBroken = ifBroken;
  }

  /** Reads the file again; a missing file keeps what is held. */
  async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.#file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      return;
    }
    try {
      this.#all = this.#parse(JSON.parse(text));
    } catch (err) {
      throw new Error(`${this.#file} is not JSON (${(err as Error).message}); ${this.#ifBroken}`);
    }
  }

  entries(): [string, T][] {
    return [...this.#all];
  }

  async set(key: string, value: T): Promise<void> {
    this.#all.set(key, value);
    await this.#save();
  }

  async delete(key: string): Promise<void> {
    if (this.#all.delete(key)) await this.#save();
  }

  async #save(): Promise<void> {
    await mkdir(dirname(this.#file), { recursive: true });
    await writeFileAtomic(this.#file, JSON.stringify(Object.fromEntries(this.#all), null, 2));
  }
}
