// A throwaway workerd for a benchmark section: the config is encoded into a temp dir, workerd is
// started on a free port (loader configs with --experimental and a control socket of their own),
// `fn` runs against it, and everything is stopped and deleted afterwards, also when `fn` throws.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import type { WorkerdConfig } from "../../reconciler/workerd/config.ts";
import { CONTROL_SOCKET } from "../../reconciler/workerd/build.ts";
import { encodeWorkerdConfig } from "../../reconciler/workerd/encode.ts";
import { startScratchWorkerd, type ScratchWorkerd } from "../../reconciler/workerd/scratch.ts";
import type { Cleanup } from "./cleanup.ts";

export async function withScratchWorkerd<T>(
  config: WorkerdConfig,
  opts: { loader: boolean; cleanup: Cleanup },
  fn: (w: ScratchWorkerd, startMs: number) => Promise<T>,
): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), "gridiron-bench-workerd-"));
  try {
    const file = path.join(dir, "config.bin");
    await writeFile(file, encodeWorkerdConfig(config));
    const extraArgs = opts.loader ? ["--experimental", "--socket-addr", `${CONTROL_SOCKET}=unix:${path.join(dir, "c.sock")}`] : [];
    const t0 = performance.now();
    const w = await startScratchWorkerd(file, { logger: pino({ level: "silent" }), extraArgs });
    const startMs = performance.now() - t0;
    opts.cleanup.trackPid(w.pid);
    try {
      return await fn(w, startMs);
    } finally {
      await w.stop();
      opts.cleanup.untrackPid(w.pid);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
