// Suspensions outlive a restart: written atomically into the data dir, read back by a new store;
// a hand-edited file with odd records cannot break a pass, one that is not JSON says where it is.
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MESH, SUSPENSIONS_FILE, Suspensions, parseSuspensions } from "../../reconciler/store/suspensions.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "gridiron-suspensions-"));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe("Suspensions (the data dir)", () => {
  it("survives a restart: a new store reads what the last one wrote", async () => {
    const a = new Suspensions(dir);
    await a.load();
    expect(a.entries()).toEqual([]);
    await a.set("greeter", { since: "2026-11-01T00:00:00.000Z", by: "ana@box", reason: "incident 42" });
    await a.set(MESH, { since: "2026-11-02T00:00:00.000Z" });

    const b = new Suspensions(dir);
    await b.load();
    expect(new Map(b.entries())).toEqual(new Map([["greeter", { since: "2026-11-01T00:00:00.000Z", by: "ana@box", reason: "incident 42" }], [MESH, { since: "2026-11-02T00:00:00.000Z" }]]));
    await b.delete("greeter");
    await b.delete("not-there");

    const c = new Suspensions(dir);
    await c.load();
    expect(c.entries().map(([k]) => k)).toEqual([MESH]);
    // Written by rename: no temp file is left beside it.
    expect(await readdir(dir)).toEqual([SUSPENSIONS_FILE]);
  });

  it("keeps only well-formed records", () => {
    expect([...parseSuspensions({ a: { since: "t", by: 3, reason: "r" }, b: { by: "x" }, c: "t", d: null })]).toEqual([["a", { since: "t", reason: "r" }]]);
    expect(parseSuspensions([]).size).toBe(0);
    expect(parseSuspensions("x").size).toBe(0);
  });

  it("a file that is not JSON fails the load, naming the file", async () => {
    await writeFile(path.join(dir, SUSPENSIONS_FILE), "{ half");
    await expect(new Suspensions(dir).load()).rejects.toThrow(SUSPENSIONS_FILE);
    expect(await readFile(path.join(dir, SUSPENSIONS_FILE), "utf8")).toBe("{ half");
  });
});
