/**
 * build-service's choice of fetch adapter, on made-up SDK packages (no workerd needed): Gridiron's
 * adapter only goes into bundles whose SDK release it was written for; anything else keeps the
 * SDK's own and says why.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildService } from "../../reconciler/build/service.ts";

let tmp: string;

/** A package shaped like @restatedev/restate-sdk-cloudflare-workers at `version`, under tmp/node_modules. */
async function fakeSdk(version: string): Promise<void> {
  const root = path.join(tmp, "node_modules", "@restatedev", "restate-sdk-cloudflare-workers");
  await rm(root, { recursive: true, force: true });
  await mkdir(path.join(root, "dist", "endpoint", "handlers"), { recursive: true });
  await writeFile(path.join(root, "package.json"), JSON.stringify({ name: "@restatedev/restate-sdk-cloudflare-workers", version, type: "module", exports: { "./fetch": "./dist/fetch.js" } }));
  await writeFile(path.join(root, "dist", "fetch.js"), 'export { fetcher } from "./endpoint/handlers/fetch.js";\n');
  await writeFile(path.join(root, "dist", "endpoint", "handlers", "fetch.js"), "export function fetcher(handler) { return { fetch: () => new Response('the sdk adapter') }; }\n");
}

async function service(name: string, source: string): Promise<void> {
  await mkdir(path.join(tmp, "services", name), { recursive: true });
  await writeFile(path.join(tmp, "services", name, "index.ts"), source);
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "gridiron-build-"));
  await service("uses-sdk", 'import { fetcher } from "@restatedev/restate-sdk-cloudflare-workers/fetch";\nexport default fetcher({});\n');
  await service("plain", "export default { fetch: () => new Response('plain') };\n");
});

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe("build-service fetch adapter", () => {
  it("keeps the SDK's adapter, with a warning, for an SDK release it was not written for", async () => {
    await fakeSdk("2.0.0");
    const r = await buildService("uses-sdk", path.join(tmp, "out"), { servicesDir: path.join(tmp, "services") });
    expect(r.fetchAdapter).toBe("sdk");
    expect(r.warnings).toEqual([expect.stringContaining("restate-sdk-cloudflare-workers 2.0.0")]);
    expect(await readFile(path.join(r.dir, "index.js"), "utf8")).toContain("the sdk adapter");
  });

  it("reports no adapter for a bundle that does not use the SDK", async () => {
    const r = await buildService("plain", path.join(tmp, "out"), { servicesDir: path.join(tmp, "services") });
    expect(r).toMatchObject({ fetchAdapter: "none", warnings: [] });
  });

  it("leaves the SDK's adapter alone when asked to", async () => {
    await fakeSdk("1.17.2");
    const r = await buildService("uses-sdk", path.join(tmp, "out"), { servicesDir: path.join(tmp, "services"), fetchAdapter: "sdk" });
    expect(r).toMatchObject({ fetchAdapter: "sdk", warnings: [] });
    expect(await readFile(path.join(r.dir, "index.js"), "utf8")).toContain("the sdk adapter");
  });

  it("refuses an unknown adapter name", async () => {
    await expect(buildService("plain", path.join(tmp, "out"), { servicesDir: path.join(tmp, "services"), fetchAdapter: "fast" as never })).rejects.toThrow(/unknown fetch adapter "fast"/);
  });
});
