// Everything the benchmark starts is registered here as it starts, and undone in reverse order
// at the end, on error and on Ctrl-C. Processes are stopped by their own pid, never by name.
export class Cleanup {
  readonly #steps: { what: string; fn: () => Promise<void> }[] = [];
  /** pids to signal synchronously if the process exits before the async steps ran. */
  readonly #pids = new Map<number, NodeJS.Signals>();
  #running: Promise<void> | undefined;

  add(what: string, fn: () => Promise<void>): void {
    this.#steps.push({ what, fn });
  }

  /** `signal`: SIGTERM for a process that stops its own children (gridiron up), else SIGKILL. */
  trackPid(pid: number, signal: NodeJS.Signals = "SIGKILL"): void {
    this.#pids.set(pid, signal);
  }

  untrackPid(pid: number): void {
    this.#pids.delete(pid);
  }

  /** Runs every step once, last added first; safe to call again (returns the same promise). */
  run(log: (line: string) => void = () => {}): Promise<void> {
    this.#running ??= (async () => {
      for (const step of this.#steps.splice(0).reverse()) {
        try {
          await step.fn();
        } catch (err) {
          log(`cleanup: ${step.what} failed: ${(err as Error).message}`);
        }
      }
    })();
    return this.#running;
  }

  /** Last resort from process.on("exit"): kills what is still tracked, synchronously. */
  killTracked(): void {
    for (const [pid, signal] of this.#pids) {
      try {
        process.kill(pid, signal);
      } catch {
        /* already gone */
      }
    }
  }
}
