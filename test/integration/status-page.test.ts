// The status page (GET /) in headless Chromium (Debian's, driven by playwright-core; no browser
// download): it shows the demo services after they are deployed, updates itself, shows a running
// rollout (weights, per-version counts, the decision and why) and what is suspended, shows a broken
// bundle's error, and renders user-controlled text (a bundle directory named like an HTML tag) as
// text. The screenshots are kept in the test's temp dir and their paths printed.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deployVariant, replaceDir, writeBrokenBundle } from "../helpers/bundles.ts";
import { REPO, allocatePorts, processesUnder, startGridiron, waitFor, type MeshPorts, type RunningMesh } from "../helpers/mesh.ts";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
const haveChromium = existsSync(CHROMIUM);
// Locally a missing browser skips (with the reason); in CI (.ci/run installs it) it must run.
if (!haveChromium && !process.env.CI) {
  console.warn(`status-page.test.ts skipped: ${CHROMIUM} is missing (apt-get install -y chromium; .ci/run installs it in CI)`);
}

/** An HTML tag as a bundle directory name: it must show up as text, never become an element. */
const HOSTILE = '<img src=x onerror="window.__pwned=1">';

let root: string;
let dataDir: string;
let bundlesDir: string;
let ports: MeshPorts;
let mesh: RunningMesh | undefined;
let context: BrowserContext | undefined;
let page: Page;
const pageProblems: string[] = [];

/** The CSS selector of a service's card (the name quoted for an attribute selector). */
const card = (service: string) => `[data-service="${service.replace(/["\\]/g, "\\$&")}"]`;

async function cardText(service: string): Promise<string> {
  return (await page.locator(card(service)).first().textContent({ timeout: 1000 })) ?? "";
}

describe.skipIf(!haveChromium && !process.env.CI)("the status page in a browser", () => {
  beforeAll(async () => {
    if (!haveChromium) throw new Error(`${CHROMIUM} is missing; CI must install it (.ci/run: apt-get install -y chromium)`);
    root = await mkdtemp(path.join(tmpdir(), "gridiron-page-"));
    dataDir = path.join(root, "data");
    bundlesDir = path.join(root, "bundles");
    await mkdir(bundlesDir);
    ports = await allocatePorts();
    mesh = await startGridiron({ dataDir, bundlesDir, ports, logFile: path.join(root, "gridiron.log") });
    context = await chromium.launchPersistentContext(path.join(root, "chromium-profile"), {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 1000 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (err) => pageProblems.push(`pageerror: ${err.message}`));
    // A CSP violation (an inline script whose hash does not match, say) is reported as a console error.
    page.on("console", (msg) => msg.type() === "error" && pageProblems.push(`console: ${msg.text()}`));
  });

  afterAll(async () => {
    await context?.close();
    await mesh?.stop();
    if (root) {
      expect(await processesUnder(dataDir)).toEqual([]);
      // Keep the screenshot; everything else goes.
      for (const entry of await readdir(root)) if (!entry.endsWith(".png")) await rm(path.join(root, entry), { recursive: true, force: true });
    }
  });

  it("shows the demo services once they are deployed, without a reload", async () => {
    await page.goto(`${mesh!.apiUrl}/`);
    expect(await page.title()).toBe("Gridiron status");
    await page.locator("#live.ok").waitFor();
    expect(await page.locator("main").textContent()).toContain("No services yet");

    // `just deploy-demo`: build services/* into the watched folder.
    const build = spawnSync(process.execPath, [path.join(REPO, "bin/build-service.js"), "--all", "--out", bundlesDir], { encoding: "utf8", timeout: 120_000 });
    expect(build.status, build.stderr).toBe(0);

    await page.locator('[data-service="greeter"] [data-state="serving"]').waitFor({ timeout: 60_000 });
    await page.locator('[data-service="counter"] [data-state="serving"]').waitFor({ timeout: 60_000 });
    const status = await mesh!.status();
    for (const service of ["greeter", "counter"]) {
      const text = await cardText(service);
      expect(text).toContain("Ready");
      expect(text).toContain(status.services.find((s) => s.service === service)!.serving!);
    }
    expect(await page.locator(".history").textContent()).toContain("deployed");
    // Each cell holding a version shows what it holds, and its health once its watchdog has looked.
    const holding = status.workerd.cells!.filter((c) => c.versions.length > 0);
    expect(holding.length).toBeGreaterThanOrEqual(2);
    for (const c of holding) {
      // The health line may show before the watchdog has sampled the process (rss –): wait for a figure.
      await waitFor(`cell ${c.index}'s health on the page`, async () => {
        const text = await page.locator(`[data-cell-health="${c.index}"]`).textContent({ timeout: 1000 });
        return text && /rss \d+ MB .*restarts: hang 0, memory 0, crash 0/.test(text) ? text : undefined;
      }, 30_000);
    }
  });

  it("shows a running rollout with its counts and decision, and what is suspended", async (ctx) => {
    // greeter v2 on a ramp that holds at 50% until promoted (a ratio of 1 is never exceeded).
    await deployVariant(path.join(bundlesDir, "greeter"), bundlesDir, "greeter", { vars: { TAG: "v2" }, rollout: { steps: [50], stepSeconds: 600, maxFailureRatio: 1, minInvocations: 1 } });

    const rollout = `${card("greeter")} [data-rollout]`;
    await page.locator(`${card("greeter")} [data-rollout="hold"] [data-rollout-weight="50"]`).waitFor({ timeout: 60_000 });
    for (let i = 0; i < 10; i++) expect((await mesh!.call("/Greeter/greet")).status).toBe(200);
    // The page shows the counts Restate reports for the step, per version.
    const r = await waitFor("the page to count the step's invocations", async () => {
      const s = (await mesh!.status()).services.find((x) => x.service === "greeter")!.rollout!;
      if (s.counts.old.completed + s.counts.new.completed < 10) return undefined;
      for (const side of ["old", "new"] as const) {
        for (const k of ["started", "completed", "failed", "retrying", "paused"] as const) {
          const shown = await page.locator(`${rollout} [data-rollout-side="${side}"] [data-count="${k}"]`).textContent({ timeout: 1000 });
          if (shown !== String(s.counts[side][k])) return undefined;
        }
      }
      return s;
    }, 30_000);
    const text = (await page.locator(rollout).textContent()) ?? "";
    expect(text).toContain(`${r.from} → ${r.to}`);
    expect(text).toContain("50% of new calls");
    expect(text).toContain("step 1 of 2 (50 → 100%)");
    expect(text).toMatch(/hold\s*step runs \d+ s more/);

    const post = (route: string, body: unknown) => mesh!.http.request(`${mesh!.apiUrl}${route}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    expect((await post("/suspend", { service: "greeter", reason: "page test", by: "vitest" })).status).toBe(200);
    await page.locator(`${card("greeter")} [data-suspended="service"]`).waitFor({ timeout: 10_000 });
    expect(await cardText("greeter")).toMatch(/Suspended.*suspended since .* by vitest: page test/);
    expect(await page.locator(`${rollout} [data-rollout-frozen]`).textContent()).toContain("frozen at 50%");
    expect((await post("/suspend", { reason: "freeze" })).status).toBe(200);
    await page.locator("#mesh-suspended").waitFor({ timeout: 10_000 });
    expect(await page.locator("#mesh-suspended").textContent()).toMatch(/whole mesh is suspended since .*: freeze/);
    expect(await page.locator(`${card("counter")} [data-suspended="mesh"]`).count()).toBe(1);
    const shot = path.join(root, "status-page-rollout.png");
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`status page screenshot (rollout, suspended): ${shot}`);
    ctx.annotate(`status page screenshot (rollout, suspended): ${shot}`);

    expect((await post("/resume", {})).status).toBe(200);
    expect((await post("/resume", { service: "greeter" })).status).toBe(200);
    await waitFor("the suspensions to leave the page", async () => ((await page.locator("[data-suspended], #mesh-suspended").count()) === 0 ? true : undefined), 10_000);
    expect((await post("/rollout", { service: "greeter", action: "promote" })).status).toBe(200);
    await page.locator(`${card("greeter")} [data-rollout="done"] [data-rollout-weight="100"]`).waitFor({ timeout: 30_000 });
    expect(pageProblems).toEqual([]);
  });

  it("shows a broken bundle's error (as text, even when the name is an HTML tag) while the old version serves", async () => {
    const serving = (await mesh!.status()).services.find((s) => s.service === "greeter")!.serving!;
    const staging = path.join(root, "staging");
    await writeBrokenBundle(staging, "greeter");
    await replaceDir(path.join(staging, "greeter"), path.join(bundlesDir, "greeter"));
    await writeBrokenBundle(staging, HOSTILE);
    await rename(path.join(staging, HOSTILE), path.join(bundlesDir, HOSTILE));

    await page.locator('[data-service="greeter"] .error').waitFor({ timeout: 60_000 });
    const greeter = await cardText("greeter");
    expect(greeter).toMatch(/SyntaxError/);
    expect(greeter).toContain(`serving ${serving}`);
    expect(greeter).toContain("Failed");

    await page.locator(card(HOSTILE)).waitFor({ timeout: 60_000 });
    expect(await cardText(HOSTILE)).toContain(`invalid service name ${JSON.stringify(HOSTILE)}`);
    expect(await page.locator("main img").count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();
    expect((await mesh!.call("/Greeter/greet")).json).toMatch(/^Hello, World! /);
    expect(pageProblems).toEqual([]);
  });

  it("says so when /status cannot be reached, and keeps the last data", async (ctx) => {
    const shot = path.join(root, "status-page.png");
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`status page screenshot: ${shot}`);
    ctx.annotate(`status page screenshot: ${shot}`);

    await page.route("**/status", (route) => route.abort());
    await page.locator("#live.bad").waitFor({ timeout: 10_000 });
    expect(await page.locator("#live").textContent()).toMatch(/cannot reach \/status.*showing data from/);
    expect(await page.locator('[data-service="counter"]').count()).toBe(1);
    await page.unroute("**/status");
    await waitFor("the page to recover", async () => ((await page.locator("#live.ok").count()) === 1 ? true : undefined), 10_000);
  });
});
