// The launcher and the daemon. `gridiron up` binds one listening socket per workerd cell, hands
// them to a long-lived daemon as fd 3, 4, … and closes its own copies (a Node server that kept one
// open would accept, and stall, connections meant for workerd); the daemon runs the mesh until a
// signal, and only it and this file touch signals and process.exit.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createDaemonLogger } from "../node/log.ts";
import { startMesh, type CellSocket } from "../node/mesh.ts";
import { OPTION_SPECS, type Options } from "../node/options.ts";
import { bindListeningSocket } from "../workerd/listen-socket.ts";

const BIN = fileURLToPath(new URL("../../bin/gridiron.js", import.meta.url));

/** Launcher → daemon: the port of each cell socket, which the daemon inherits as fd 3, 4, …. */
const CELL_PORTS_ENV = "GRIDIRON_INTERNAL_CELL_PORTS";

function inheritedSockets(o: Readonly<Options>): CellSocket[] {
  const listed = process.env[CELL_PORTS_ENV] ?? (o.role === "registrar" ? "" : String(o.workerdPort));
  const ports = listed.split(",").filter(Boolean).map(Number);
  delete process.env[CELL_PORTS_ENV];
  return ports.map((port, i) => ({ fd: 3 + i, port }));
}

/**
 * Binds workerd's public socket here, hands it to the daemon as fd 3 and closes our copy: a Node
 * server that kept it open would accept (and stall) connections meant for workerd.
 */
export async function up(o: Readonly<Options>, v: Record<string, string | boolean | undefined>): Promise<number> {
  if (v["build-demo"]) {
    const { main: build } = await import("../build/service.ts");
    const code = await build(["--all", "--if-missing", "--out", o.bundlesDir]);
    if (code !== 0) return code;
  }
  // One socket per cell, on consecutive ports: a version's deployment URI names its cell's port,
  // so the ports must be the same at every start.
  // A registrar serves nothing: no workerd, no sockets.
  const sockets = [];
  for (let i = 0; i < (o.role === "registrar" ? 0 : o.cells + o.lanes); i++) {
    const port = o.workerdPort === 0 ? 0 : o.workerdPort + i;
    try {
      sockets.push(await bindListeningSocket(o.host, port));
    } catch (err) {
      await Promise.all(sockets.map((s) => s.close()));
      const what = i < o.cells ? `workerd cell ${i}` : `workerd lane ${i - o.cells}`;
      console.error(`gridiron up: cannot listen on ${o.host}:${port} for ${what} (${(err as Error).message}). Is another mesh running? Stop it, or pick --workerd-port (cells and lanes use it and the ${o.cells + o.lanes - 1} ports after it), --cells or --lanes.`);
      return 1;
    }
  }
  // The real port (the flag may say 0) goes last, so it wins over an earlier --workerd-port.
  const args = [BIN, "__daemon", ...process.argv.slice(3).filter((a) => a !== "--build-demo"), ...(sockets[0] ? ["--workerd-port", String(sockets[0].port)] : [])];
  // The daemon leads its own process group, and restate-server and workerd join it. Ctrl-C reaches
  // only this launcher, which asks the daemon to stop them in order; if the daemon dies hard, the
  // group is killed so no server outlives it.
  const child = spawn(process.execPath, args, {
    stdio: ["inherit", "inherit", "inherit", ...sockets.map((s) => s.fd)],
    env: { ...process.env, [CELL_PORTS_ENV]: sockets.map((s) => s.port).join(",") },
    detached: true,
  });
  // Listen for the exit before anything else is awaited, so an early death is never missed.
  const exited = new Promise<number>((resolve) => {
    child.on("exit", (code, signal) => {
      // Only after an abnormal exit: after a clean one the group is empty, and its number could
      // already belong to someone else's new process group.
      if (signal || code !== 0) {
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch {
          /* group already empty */
        }
      }
      if (signal) console.error(`gridiron up: the daemon was killed by ${signal}; its servers were stopped`);
      resolve(code ?? 1);
    });
  });
  await Promise.all(sockets.map((s) => s.close()));
  const forward = () => child.kill("SIGTERM");
  process.on("SIGINT", forward);
  process.on("SIGTERM", forward);
  process.on("SIGHUP", forward);
  // If whoever started us is gone (npm killed without passing the signal on), stop the mesh too.
  const parent = process.ppid;
  const orphanCheck = setInterval(() => process.ppid !== parent && forward(), 1000);
  orphanCheck.unref();
  return exited;
}

export async function daemon(o: Readonly<Options>): Promise<number> {
  // Secrets are in `o` now; restate-server, workerd and git must not inherit them.
  for (const spec of OPTION_SPECS) if (spec.envOnly) delete process.env[spec.env];
  const { logger, close: closeLog } = createDaemonLogger(o);
  let stopRequested: string | undefined;
  let wake: () => void = () => {};
  const stopSignal = new Promise<void>((resolve) => (wake = resolve));
  const request = (why: string) => {
    if (stopRequested) return;
    stopRequested = why;
    wake();
  };
  // Handlers go in before anything starts, so a signal during start-up still stops cleanly.
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, () => request(sig));
  // If the launcher is gone (killed hard), nobody would ever stop us: notice and stop.
  const parent = process.ppid;
  const orphanCheck = setInterval(() => process.ppid !== parent && request("launcher exited"), 1000);
  orphanCheck.unref();

  let mesh;
  try {
    mesh = await startMesh(o, logger, inheritedSockets(o));
  } catch (err) {
    logger.fatal({ err }, "gridiron could not start");
    await new Promise((r) => logger.flush(() => r(undefined)));
    return 1;
  }
  await stopSignal;
  logger.info({ reason: stopRequested }, "stopping: workerd, restate-server and the reconciler");
  await mesh.close();
  logger.info("stopped");
  await new Promise((r) => logger.flush(() => r(undefined)));
  clearInterval(orphanCheck);
  closeLog();
  // Everything we own has stopped; a stray handle (a library's timer) must not keep a daemon
  // without servers alive, holding the launcher and whoever waits on it.
  process.exit(0);
}
