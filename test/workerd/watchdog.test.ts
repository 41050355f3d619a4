// The watchdog against a fake supervisor and a health route we can stall: a probe left unanswered
// for hangMs replaces the process (after triage), RSS over the limit too, an answered probe never
// does, nothing is probed while the process is not steady, and a crash is reported (a V8 heap
// exhaustion as a memory fault). The real thing, with workerd: test/integration/watchdog.test.ts.
import { EventEmitter } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import pino from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Watchdog, type CellFault } from "../../reconciler/workerd/watchdog.ts";
import { waitFor } from "../helpers/mesh.ts";

class FakeProcess extends EventEmitter {
  pid: number | undefined = 1000;
  generation = 1;
  steady = true;
  replaced: string[] = [];
  replace(reason: string) {
    if (this.pid === undefined) return undefined;
    const was = { generation: this.generation, pid: this.pid };
    this.replaced.push(reason);
    this.pid++;
    this.generation++;
    this.emit("ready", { generation: this.generation, pid: this.pid, port: 1 });
    return was;
  }
}

let server: Server;
let url: string;
let stalled: ServerResponse[] = [];
let stall = false;
let probes = 0;
let proc: FakeProcess;
let dog: Watchdog | undefined;
const MB = 1024 * 1024;

beforeEach(async () => {
  stall = false;
  probes = 0;
  stalled = [];
  proc = new FakeProcess();
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url === "/_gridiron/health") probes++;
    if (stall) stalled.push(res);
    else res.end("ok\n");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  dog?.stop();
  for (const res of stalled) res.destroy();
  await new Promise((r) => server.close(r));
});

function start(o: { hangMs?: number; memoryMb?: number; rss?: () => number; triage?: (f: CellFault) => Promise<unknown>; intervalMs?: number; memorySampleMs?: number } = {}): { faults: (CellFault & { triage?: unknown })[] } {
  const faults: (CellFault & { triage?: unknown })[] = [];
  const limits = { hangMs: o.hangMs ?? 600, memoryMb: o.memoryMb ?? 512 };
  dog = new Watchdog({
    process: proc as never,
    index: 2,
    url,
    holds: () => ["poison/v-1"],
    limits: () => limits,
    triage: o.triage,
    logger: pino({ level: "silent" }),
    intervalMs: o.intervalMs ?? 50,
    memorySampleMs: o.memorySampleMs,
    sample: async () => ({ rssBytes: (o.rss ?? (() => 100 * MB))(), cpuSeconds: 1.5 }),
  }, limits);
  dog.on("fault", (f) => faults.push(f));
  dog.start();
  return { faults };
}

describe("Watchdog", () => {
  it("leaves a process that answers alone, and reports its RSS and CPU", async () => {
    const { faults } = start();
    await waitFor("a few probes", async () => (probes >= 5 ? true : undefined));
    expect(faults).toEqual([]);
    expect(proc.replaced).toEqual([]);
    expect(dog!.health()).toMatchObject({ rssBytes: 100 * MB, cpuSeconds: 1.5, restarts: { hang: 0, memory: 0, crash: 0 }, limits: { hangMs: 600, memoryMb: 512 } });
  });

  it("replaces a process whose health route stays unanswered for hangMs, after asking triage", async () => {
    const order: string[] = [];
    const { faults } = start({
      triage: async (f) => {
        order.push(`triage ${f.kind} while ${proc.replaced.length} replaced`);
        return { inFlight: ["inv_1"] };
      },
    });
    await waitFor("a probe", async () => (probes >= 1 ? true : undefined));
    const t0 = Date.now();
    stall = true;
    await waitFor("the replacement", async () => (faults.length > 0 ? true : undefined), 5000);
    const ms = Date.now() - t0;
    // Timers may fire a millisecond before Date.now() says the delay is over.
    expect(ms).toBeGreaterThanOrEqual(600 - 5);
    expect(ms).toBeLessThan(2 * 600 + 1000);
    expect(order).toEqual(["triage hang while 0 replaced"]);
    expect(proc.replaced).toHaveLength(1);
    expect(proc.replaced[0]).toMatch(/^hang: health route unanswered for 600 ms/);
    expect(faults[0]).toMatchObject({ index: 2, cell: "cell 2", kind: "hang", pid: 1000, generation: 1, holds: ["poison/v-1"], triage: { inFlight: ["inv_1"] } });
    expect(faults[0]!.probeSentAt).toBeLessThanOrEqual(faults[0]!.at - 600 + 5);
    expect(dog!.health().restarts).toEqual({ hang: 1, memory: 0, crash: 0 });
    expect(dog!.health().lastEvent).toMatchObject({ kind: "hang", pid: 1000, generation: 1 });
  });

  it("kills even when triage does not answer in time", async () => {
    const { faults } = start({ triage: () => new Promise(() => undefined) });
    stall = true;
    await waitFor("the replacement", async () => (faults.length > 0 ? true : undefined), 5000);
    expect(faults[0]!.triage).toMatch(/^not known: no answer within 1000 ms/);
    expect(proc.replaced).toHaveLength(1);
  });

  it("does not probe, nor kill, while the process is not steady (a deploy or a restart)", async () => {
    proc.steady = false;
    const { faults } = start({ hangMs: 500 });
    stall = true;
    await new Promise((r) => setTimeout(r, 1200));
    expect(probes).toBe(0);
    expect(faults).toEqual([]);
  });

  it("drops a probe that a generation now gone accepted", async () => {
    const { faults } = start({ hangMs: 800 });
    stall = true;
    await waitFor("a stalled probe", async () => (probes >= 1 ? true : undefined));
    // A deploy swaps generations while the probe waits: the hang was the old one's.
    proc.generation++;
    stall = false;
    await new Promise((r) => setTimeout(r, 1200));
    expect(faults).toEqual([]);
  });

  it("replaces a process whose RSS is over the limit", async () => {
    let rss = 100 * MB;
    const { faults } = start({ memoryMb: 256, rss: () => rss });
    await waitFor("a probe", async () => (probes >= 1 ? true : undefined));
    rss = 300 * MB;
    await waitFor("the replacement", async () => (faults.length > 0 ? true : undefined), 5000);
    rss = 100 * MB;
    expect(faults[0]).toMatchObject({ kind: "memory", detail: "resident memory 300 MB is over the cell's 256 MB limit" });
    expect(proc.replaced[0]).toMatch(/^memory: /);
    expect(dog!.health().restarts).toEqual({ hang: 0, memory: 1, crash: 0 });
  });

  it("reads memory on its own timer, not only when it probes", async () => {
    let rss = 100 * MB;
    let samples = 0;
    const { faults } = start({ memoryMb: 256, intervalMs: 60_000, hangMs: 60_000, memorySampleMs: 20, rss: () => (samples++, rss) });
    await waitFor("the first probe and a few readings", async () => (probes >= 1 && samples >= 3 ? true : undefined));
    const probed = probes;
    rss = 300 * MB;
    const t0 = Date.now();
    await waitFor("the replacement", async () => (faults.length > 0 ? true : undefined), 5000);
    rss = 100 * MB;
    // Seen within a few readings, while the next probe is a minute away.
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(probes).toBe(probed);
    expect(faults[0]).toMatchObject({ kind: "memory", detail: "resident memory 300 MB is over the cell's 256 MB limit" });
  });

  it("reports a crash without killing anything, and a V8 heap exhaustion as memory", async () => {
    const { faults } = start();
    proc.emit("crash", { generation: 1, pid: 1000, code: null, signal: "SIGSEGV", stderrTail: "something broke\n", restartInMs: 250, upMs: 5000 });
    proc.emit("crash", { generation: 2, pid: 1001, code: null, signal: "SIGTRAP", stderrTail: "<--- Last few GCs --->\nFatal JavaScript invalid size error\n# Fatal error in , line 0\n# Reached heap limit\n", restartInMs: 500, upMs: 100 });
    await waitFor("both reported", async () => (faults.length === 2 ? true : undefined));
    expect(faults.map((f) => f.kind)).toEqual(["crash", "memory"]);
    expect(faults[0]!.detail).toBe("exited by itself (signal SIGSEGV): something broke");
    expect(faults[0]!.servingSince).toBeLessThanOrEqual(Date.now() - 5000);
    expect(proc.replaced).toEqual([]);
    expect(dog!.health().restarts).toEqual({ hang: 0, memory: 1, crash: 1 });
  });
});
