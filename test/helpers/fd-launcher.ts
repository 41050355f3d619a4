// Child-process fixture playing the reconciler daemon in the launcher → daemon → workerd chain.
//
// Why a separate process: the listening socket's fd is only reachable in Node through a listening
// `net.Server`, and a process that keeps that server open accepts connections itself. So the test
// (the "launcher") binds, spawns this script with the fd as stdio[3], and closes its own server;
// this script never wraps fd 3 and hands it to WorkerdProcess as `{ socket: { fd: 3 } }`.
//
// Arguments: `--binary` when the configs it is given are binary Cap'n Proto (default: text).
// Protocol (Node IPC channel): the parent sends { id, cmd: "start" | "swap" | "rest" | "stop" | "exit",
// configPath? } ("exit" is process.exit(1) without stop());
// this script answers { type: "reply", id, ok, result? , error? } and forwards every WorkerdProcess
// event as { type: "event", name, data }. Logs (pino) go to stderr. When the IPC channel closes,
// workerd is stopped and the script exits, so a crashed test leaves nothing behind.
import { pino } from "pino";
import { WorkerdProcess, type WorkerdProcessEvents } from "../../reconciler/workerd/process.ts";

interface Command {
  id: number;
  cmd: "start" | "swap" | "rest" | "stop" | "exit";
  configPath?: string;
}

const send = (msg: unknown): void => {
  if (process.connected) process.send?.(msg);
};

const logger = pino({ level: process.env["LOG_LEVEL"] ?? "info" }, pino.destination(2));
const wp = new WorkerdProcess({
  logger,
  socket: { fd: 3 },
  binary: process.argv.includes("--binary"),
  drainTimeoutMs: 10_000,
  restartBackoffMs: { initial: 100, max: 2000 },
});

const events: (keyof WorkerdProcessEvents)[] = ["ready", "crash", "restart", "swap", "exit"];
for (const name of events) {
  wp.on(name, (data: unknown) => send({ type: "event", name, data }));
}

async function run(c: Command): Promise<unknown> {
  switch (c.cmd) {
    case "start":
      return wp.start(c.configPath ?? "");
    case "swap":
      return wp.swap(c.configPath ?? "");
    case "rest":
      await wp.rest();
      return null;
    case "stop":
      await wp.stop();
      return null;
    case "exit":
      // The daemon dying without stop(): workerd must not outlive it.
      process.exit(1);
  }
}

process.on("message", (raw) => {
  const c = raw as Command;
  run(c).then(
    (result) => send({ type: "reply", id: c.id, ok: true, result }),
    (err: unknown) => {
      const e = err as { message?: string; code?: string };
      send({ type: "reply", id: c.id, ok: false, error: { message: String(e.message ?? err), code: e.code } });
    },
  );
});

process.on("disconnect", () => {
  void wp.stop().finally(() => process.exit(0));
});

send({ type: "hello", pid: process.pid });
