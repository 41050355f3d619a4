// Every workerd child still running in this process. If the process exits without stop() (an
// uncaught exception, process.exit()), they are SIGKILLed rather than left serving, orphaned, on
// the shared socket. (Nothing runs when the process is SIGKILLed; that case still orphans them.)
//
// This listens for the process's "exit" event but installs no signal handler and never exits the
// process itself: it only cleans up what this module's spawns left behind, whoever the host is
// (the daemon, a test, a benchmark), so it lives beside the spawn rather than in the CLI.
import type { ChildProcess } from "node:child_process";

const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Kills `child` when this process exits, unless it has closed by then. */
export function killOnExit(child: ChildProcess): void {
  liveChildren.add(child);
  child.once("close", () => liveChildren.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const c of liveChildren) c.kill("SIGKILL");
  });
}
