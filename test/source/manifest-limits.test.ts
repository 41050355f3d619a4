// gridiron.json "limits": what a service asks of its cell's watchdog, checked like every other key,
// and carried in the version's spec.
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { GridironError } from "../../reconciler/core/errors.ts";
import { readBundle } from "../../reconciler/source/bundle.ts";
import { parseGridironManifest } from "../../reconciler/source/manifest.ts";

const parse = (value: unknown) => parseGridironManifest("svc", JSON.stringify(value));

describe("gridiron.json limits", () => {
  it.each([
    [{ limits: {} }, {}],
    [{ limits: { hangMs: 10_000 } }, { hangMs: 10_000 }],
    [{ limits: { memoryMb: 256 } }, { memoryMb: 256 }],
    [{ limits: { hangMs: 500, memoryMb: 65_536 } }, { hangMs: 500, memoryMb: 65_536 }],
  ])("accepts %j", (input, want) => {
    expect(parse(input).limits).toEqual(want);
  });

  it.each([
    [{ limits: 5000 }, '"limits" must be an object like {"hangMs": 10000, "memoryMb": 512}'],
    [{ limits: null }, '"limits" must be an object'],
    [{ limits: [] }, '"limits" must be an object'],
    [{ limits: { hangMS: 5000 } }, '"limits" has an unknown key "hangMS" (allowed: hangMs, memoryMb)'],
    [{ limits: { cpuMs: 50 } }, 'unknown key "cpuMs"'],
    [{ limits: { hangMs: "5000" } }, '"limits.hangMs" must be a whole number of ms from 500 to 300000, got "5000"'],
    [{ limits: { hangMs: 100 } }, '"limits.hangMs" must be a whole number of ms from 500 to 300000, got 100'],
    [{ limits: { hangMs: 1500.5 } }, '"limits.hangMs" must be a whole number'],
    [{ limits: { memoryMb: 16 } }, '"limits.memoryMb" must be a whole number of MB from 32 to 65536, got 16'],
    [{ limits: { memoryMb: 1e9 } }, '"limits.memoryMb" must be a whole number of MB'],
    [{ limits: { toString: 1 } }, 'unknown key "toString"'],
  ])("refuses %j", (input, message) => {
    let err: unknown;
    try {
      parse(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GridironError);
    expect((err as GridironError).code).toBe("BUNDLE_INVALID");
    expect((err as GridironError).message).toContain(message);
  });

  it("is carried in the bundle's spec, and a bundle without it has none", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "gridiron-limits-"));
    const bundle = path.join(dir, "svc");
    await mkdir(bundle);
    await writeFile(path.join(bundle, "index.js"), "export default { fetch() { return new Response('ok'); } };\n");
    expect((await readBundle(bundle)).spec.limits).toBeUndefined();
    await writeFile(path.join(bundle, "gridiron.json"), JSON.stringify({ limits: { hangMs: 12_000, memoryMb: 300 } }));
    expect((await readBundle(bundle)).spec.limits).toEqual({ hangMs: 12_000, memoryMb: 300 });
  });
});
