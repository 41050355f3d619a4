// WorkerdProcess and startScratchWorkerd against the real workerd binary.
//
// The test process plays the launcher: it binds the public socket (bindListeningSocket), spawns
// test/helpers/fd-launcher.ts (the "daemon", which owns a WorkerdProcess) with the fd as stdio[3],
// and closes its own server at once, so no Node server ever accepts on the socket workerd serves.
// Commands and events travel over the Node IPC channel. Nothing here sleeps for a fixed time: every
// wait is on an event, an HTTP answer or a process exit, bounded by the test timeout.
import { spawn, type ChildProcess } from "node:child_process";
import { EventEmitter, once } from "node:events";
import { readFileSync } from "node:fs";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { bindListeningSocket, type BindOptions } from "../../reconciler/workerd/listen-socket.ts";
import type { WorkerdConfig } from "../../reconciler/workerd/config.ts";
import { encodeWorkerdConfig } from "../../reconciler/workerd/encode.ts";
import { startScratchWorkerd } from "../../reconciler/workerd/scratch.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const launcherScript = path.join(root, "test/helpers/fd-launcher.ts");
const silent = pino({ level: "silent" });

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "gridiron-workerd-process-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

let configCounter = 0;
/** A text-format workerd config with one worker whose fetch handler is `fetchBody`. */
async function writeConfig(fetchBody: string): Promise<string> {
  const dir = path.join(tmp, `cfg-${++configCounter}`);
  await mkdir(dir);
  await writeFile(path.join(dir, "index.js"), `export default { async fetch(request) { ${fetchBody} } };\n`);
  await writeFile(
    path.join(dir, "config.capnp"),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = ( services = [ (name = "main", worker = .w) ], sockets = [ (name = "http", http = (), service = "main") ] );
const w :Workerd.Worker = ( modules = [ (name = "index.js", esModule = embed "index.js") ], compatibilityDate = "2026-11-01" );
`,
  );
  return path.join(dir, "config.capnp");
}
/** The same worker as a binary Cap'n Proto config (what the reconciler writes). */
async function binaryConfig(text: string): Promise<string> {
  const file = path.join(tmp, `cfg-${++configCounter}.bin`);
  const config: WorkerdConfig = {
    services: [
      {
        name: "main",
        worker: {
          modules: [{ name: "index.js", esModule: `export default { fetch() { return new Response(${JSON.stringify(text)}); } };` }],
          compatibilityDate: "2026-11-01",
          compatibilityFlags: [],
          bindings: [],
        },
      },
    ],
    sockets: [{ name: "http", http: {}, service: "main" }],
  };
  await writeFile(file, encodeWorkerdConfig(config));
  return file;
}
const textConfig = (text: string) => writeConfig(`return new Response(${JSON.stringify(text)});`);
const brokenConfig = () => writeConfig(`return new Response("unclosed";`);

/** One GET on a fresh connection (agent: false → `Connection: close`). */
function get(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/", agent: false, timeout: 15_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("request timeout")));
    req.on("error", reject);
  });
}

/** Whether `pid` is a running process (a zombie awaiting its reaper counts as gone). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    // /proc/<pid>/stat: "pid (comm) state …"; Z = exited, not yet reaped.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return process.platform !== "linux";
  }
}

/** Polls `cond` on every event-loop turn (setImmediate) until true or `timeoutMs`. */
async function waitFor(cond: () => boolean, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setImmediate(resolve));
  }
  return true;
}

interface LauncherEvent {
  name: string;
  data: Record<string, unknown>;
}

/** Client side of test/helpers/fd-launcher.ts. */
class Launcher {
  readonly events: LauncherEvent[] = [];
  readonly #bus = new EventEmitter();
  #nextId = 0;
  #stderr = "";

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    readonly deferAccept: boolean,
  ) {
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => (this.#stderr = (this.#stderr + chunk).slice(-20_000)));
    child.on("message", (raw) => {
      const msg = raw as { type: string; id?: number; name?: string; data?: Record<string, unknown> };
      if (msg.type === "event") {
        this.events.push({ name: msg.name ?? "", data: msg.data ?? {} });
        this.#bus.emit("event");
      } else if (msg.type === "reply") {
        this.#bus.emit(`reply:${msg.id}`, msg);
      }
    });
  }

  static async start(bind: BindOptions = {}, opts: { binary?: boolean } = {}): Promise<Launcher> {
    const socket = await bindListeningSocket("127.0.0.1", 0, bind);
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, ["--import", "tsx", launcherScript, ...(opts.binary ? ["--binary"] : [])], {
        cwd: root,
        stdio: ["ignore", "ignore", "pipe", socket.fd, "ipc"],
      });
    } finally {
      // The child has its own copy of the fd now; ours must not accept connections.
      await socket.close();
    }
    const launcher = new Launcher(child, socket.port, socket.deferAccept);
    const [hello] = (await Promise.race([once(child, "message"), once(child, "exit").then(() => [undefined])])) as [unknown];
    if ((hello as { type?: string } | undefined)?.type !== "hello") {
      throw new Error(`fd-launcher did not start:\n${launcher.stderr()}`);
    }
    return launcher;
  }

  stderr(): string {
    return this.#stderr;
  }

  async send(cmd: "start" | "swap" | "rest" | "stop" | "exit", configPath?: string): Promise<Record<string, unknown>> {
    const id = ++this.#nextId;
    const reply = once(this.#bus, `reply:${id}`);
    this.child.send({ id, cmd, configPath });
    const [msg] = (await reply) as [{ ok: boolean; result?: Record<string, unknown>; error?: { message: string; code?: string } }];
    if (!msg.ok) throw Object.assign(new Error(msg.error?.message), { code: msg.error?.code });
    return msg.result ?? {};
  }

  /** The first event named `name` at index ≥ `from` that matches `pred`, waiting if needed. */
  async waitEvent(name: string, from = 0, pred: (d: Record<string, unknown>) => boolean = () => true): Promise<Record<string, unknown>> {
    for (;;) {
      const hit = this.events.slice(from).find((e) => e.name === name && pred(e.data));
      if (hit) return hit.data;
      await once(this.#bus, "event");
    }
  }

  pidsSeen(): number[] {
    return this.events.filter((e) => e.name === "ready").map((e) => e.data["pid"] as number);
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, "exit");
    if (this.child.connected) this.child.disconnect(); // the launcher stops workerd, then exits
    await exited;
  }
}

/**
 * Two connection-per-request client loops running while `swaps` swaps happen; after each swap it
 * waits for the old generation's exit and for the clients to see the new text. Every config
 * answers with its own text, so each generation must have been reached.
 */
async function swapUnderLoad(launcher: Launcher, swaps: number) {
  const port = launcher.port;
  await launcher.send("start", await textConfig("v0"));
  const stats = { ok: 0, failed: 0, errors: [] as string[], seen: new Set<string>(), swapMs: [] as number[] };
  const progress = new EventEmitter();
  let done = false;
  const loop = async (): Promise<void> => {
    for (; !done; progress.emit("request")) {
      try {
        const res = await get(port);
        if (res.status === 200) {
          stats.ok++;
          stats.seen.add(res.body);
        } else {
          stats.failed++;
          stats.errors.push(`HTTP ${res.status}: ${res.body.slice(0, 200)}`);
        }
      } catch (err) {
        stats.failed++;
        stats.errors.push(`${(err as NodeJS.ErrnoException).code}: ${(err as Error).message}`);
      }
    }
  };
  const loops = [loop(), loop()];
  try {
    for (let i = 1; i <= swaps; i++) {
      const okBefore = stats.ok;
      const mark = launcher.events.length;
      const { ms } = (await launcher.send("swap", await textConfig(`v${i}`))) as { ms: number };
      stats.swapMs.push(ms);
      // Let the old generation drain and the clients reach the new one before the next swap.
      await launcher.waitEvent("exit", mark);
      while (!stats.seen.has(`v${i}`) || stats.ok < okBefore + 20) await once(progress, "request");
    }
  } finally {
    done = true;
    await Promise.all(loops);
  }
  console.log(
    `${swaps} swaps under load (defer accept ${launcher.deferAccept}): ${stats.ok} ok, ${stats.failed} failed, swap ms ${stats.swapMs.join(", ")}`,
    stats.errors,
  );
  expect([...stats.seen].sort()).toEqual(Array.from({ length: swaps + 1 }, (_, i) => `v${i}`).sort());
  return stats;
}

describe("WorkerdProcess on an inherited socket fd", { timeout: 90_000 }, () => {
  let launcher: Launcher | undefined;
  afterEach(async () => {
    await launcher?.close();
    for (const pid of launcher?.pidsSeen() ?? []) expect(isAlive(pid), `workerd ${pid} left running`).toBe(false);
    launcher = undefined;
  });

  it("start answers HTTP on the launcher's port", async () => {
    launcher = await Launcher.start();
    const result = await launcher.send("start", await textConfig("one"));
    expect(result["port"]).toBe(launcher.port);
    expect(await get(launcher.port)).toEqual({ status: 200, body: "one" });
  });

  it("serves and swaps binary Cap'n Proto configs (the default)", async () => {
    launcher = await Launcher.start({}, { binary: true });
    await launcher.send("start", await binaryConfig("bin-one"));
    expect(await get(launcher.port)).toEqual({ status: 200, body: "bin-one" });
    const mark = launcher.events.length;
    await launcher.send("swap", await binaryConfig("bin-two"));
    await launcher.waitEvent("exit", mark);
    expect(await get(launcher.port)).toEqual({ status: 200, body: "bin-two" });
  });

  it("swap serves the new config and the old generation exits", async () => {
    launcher = await Launcher.start();
    await launcher.send("start", await textConfig("one"));
    const first = await launcher.waitEvent("ready");
    const mark = launcher.events.length;
    const swapped = await launcher.send("swap", await textConfig("two"));
    expect(swapped["port"]).toBe(launcher.port);
    const exit = await launcher.waitEvent("exit", mark, (d) => d["generation"] === first["generation"]);
    expect(exit["requested"]).toBe(true);
    expect(isAlive(first["pid"] as number)).toBe(false);
    expect(launcher.events.some((e) => e.name === "crash")).toBe(false);
    expect(await get(launcher.port)).toEqual({ status: 200, body: "two" });
  });

  it("loses no request across 5 swaps under a continuous client loop (TCP_DEFER_ACCEPT)", async () => {
    launcher = await Launcher.start();
    expect(launcher.deferAccept).toBe(true);
    const stats = await swapUnderLoad(launcher, 5);
    expect(stats.errors).toEqual([]);
    expect(stats.failed).toBe(0);
  });

  it("without TCP_DEFER_ACCEPT a handover drops at most the connections just opened", async () => {
    // workerd's SIGTERM drain closes connections it accepted whose first request has not arrived
    // yet (EOF, "socket hang up"), so each handover can fail the requests whose connection the old
    // generation had just accepted: never more than the client loops running (2), in practice
    // 0–2. This documents why bindListeningSocket sets TCP_DEFER_ACCEPT by default.
    launcher = await Launcher.start({ deferAcceptSeconds: false });
    expect(launcher.deferAccept).toBe(false);
    const stats = await swapUnderLoad(launcher, 5);
    expect(stats.errors.every((e) => /ECONNRESET/.test(e)), stats.errors.join("\n")).toBe(true);
    expect(stats.failed).toBeLessThanOrEqual(2 * 5);
  });

  it("a swap to a config with a syntax error rejects with it and the old generation keeps serving", async () => {
    launcher = await Launcher.start();
    await launcher.send("start", await textConfig("good"));
    const ready = await launcher.waitEvent("ready");
    const mark = launcher.events.length;
    const err = (await launcher.send("swap", await brokenConfig()).catch((e: unknown) => e)) as Error & { code?: string };
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(/SyntaxError/);
    expect(err.code).toBe("WORKERD_START_FAILED");
    expect(isAlive(ready["pid"] as number)).toBe(true);
    expect(launcher.events.slice(mark).filter((e) => e.name === "ready" || e.name === "crash")).toEqual([]);
    expect(await get(launcher.port)).toEqual({ status: 200, body: "good" });
    // And the next good swap still works.
    await launcher.send("swap", await textConfig("better"));
    await launcher.waitEvent("exit", mark, (d) => d["pid"] === ready["pid"]);
    expect(await get(launcher.port)).toEqual({ status: 200, body: "better" });
  });

  it("serializes concurrent swaps", async () => {
    launcher = await Launcher.start();
    await launcher.send("start", await textConfig("s0"));
    const [a, b] = await Promise.all([launcher.send("swap", await textConfig("s1")), launcher.send("swap", await textConfig("s2"))]);
    expect(a["port"]).toBe(launcher.port);
    expect(b["port"]).toBe(launcher.port);
    const swaps = launcher.events.filter((e) => e.name === "swap").map((e) => [e.data["from"], e.data["to"]]);
    expect(swaps).toEqual([
      [1, 2],
      [2, 3],
    ]);
    await launcher.waitEvent("exit", 0, (d) => d["generation"] === 2);
    expect(await get(launcher.port)).toEqual({ status: 200, body: "s2" });
  });

  it("kill -9 of the serving generation → crash, restart, answers again", async () => {
    launcher = await Launcher.start();
    await launcher.send("start", await textConfig("phoenix"));
    const ready = await launcher.waitEvent("ready");
    const mark = launcher.events.length;
    process.kill(ready["pid"] as number, "SIGKILL");
    const crash = await launcher.waitEvent("crash", mark);
    expect(crash).toMatchObject({ generation: ready["generation"], signal: "SIGKILL" });
    const restart = await launcher.waitEvent("restart", mark);
    expect(restart["pid"]).not.toBe(ready["pid"]);
    expect(restart["port"]).toBe(launcher.port);
    expect(await get(launcher.port)).toEqual({ status: 200, body: "phoenix" });
  });

  it("rest() ends the generation with nothing restarting it, and start() launches afresh", async () => {
    launcher = await Launcher.start();
    await launcher.send("start", await textConfig("first"));
    const ready = await launcher.waitEvent("ready");
    const mark = launcher.events.length;
    await launcher.send("rest");
    expect(isAlive(ready["pid"] as number)).toBe(false);
    await launcher.send("start", await textConfig("second"));
    expect(await get(launcher.port)).toEqual({ status: 200, body: "second" });
    expect(launcher.events.slice(mark).some((e) => e.name === "crash" || e.name === "restart")).toBe(false);
  });

  it("stop() leaves no workerd process and is safe to call twice", async () => {
    launcher = await Launcher.start();
    await launcher.send("start", await textConfig("a"));
    await launcher.send("swap", await textConfig("b"));
    const pids = launcher.pidsSeen();
    expect(pids).toHaveLength(2);
    await Promise.all([launcher.send("stop"), launcher.send("stop")]);
    for (const pid of pids) expect(isAlive(pid), `workerd ${pid}`).toBe(false);
    expect(launcher.events.some((e) => e.name === "crash" || e.name === "restart")).toBe(false);
    await expect(launcher.send("swap", await textConfig("c"))).rejects.toThrow(/after stop/);
  });

  it("workerd does not outlive a daemon that exits without stop()", async () => {
    launcher = await Launcher.start();
    await launcher.send("start", await textConfig("orphan?"));
    const [pid] = launcher.pidsSeen();
    const exited = once(launcher.child, "exit");
    void launcher.send("exit").catch(() => undefined);
    await exited;
    // The exit hook SIGKILLed it synchronously, but the signal is delivered asynchronously.
    const gone = await waitFor(() => !isAlive(pid as number));
    expect(gone, `workerd ${pid} still running`).toBe(true);
  });
});

describe("startScratchWorkerd", { timeout: 60_000 }, () => {
  it("answers on its own port", async () => {
    const scratch = await startScratchWorkerd(await textConfig("scratch"), { logger: silent, binary: false });
    try {
      expect(scratch.port).toBeGreaterThan(0);
      expect(await get(scratch.port)).toEqual({ status: 200, body: "scratch" });
    } finally {
      await Promise.all([scratch.stop(), scratch.stop()]);
    }
    expect(isAlive(scratch.pid)).toBe(false);
  });

  it("runs a binary config by default", async () => {
    const scratch = await startScratchWorkerd(await binaryConfig("scratch-bin"), { logger: silent });
    try {
      expect(await get(scratch.port)).toEqual({ status: 200, body: "scratch-bin" });
    } finally {
      await scratch.stop();
    }
  });

  it("rejects a broken config with workerd's stderr", async () => {
    await expect(startScratchWorkerd(await brokenConfig(), { logger: silent, binary: false })).rejects.toThrow(/SyntaxError/);
  });
});
