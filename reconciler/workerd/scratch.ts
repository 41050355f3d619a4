// A throwaway workerd on 127.0.0.1:0: a config (a new version, a benchmark) is proven on it before
// it goes near the serving generation.
import type { Logger } from "pino";
import { resolveWorkerdBinary } from "./binary.ts";
import { Generation } from "./generation.ts";
import type { SourceMapLookup } from "./stack.ts";

const SCRATCH_STOP_GRACE_MS = 2000;

export interface ScratchWorkerd {
  port: number;
  pid: number;
  /** Everything workerd wrote to stderr so far (the last few KB). */
  stderr(): string;
  /** SIGTERM, SIGKILL after a short grace; resolves when it exited. Idempotent. */
  stop(): Promise<void>;
}

/**
 * One throwaway workerd on 127.0.0.1:0, to validate a config before it goes near the serving
 * generation. Rejects with workerd's stderr if it exits before listening or times out.
 * `routerVerifies`: as WorkerdProcessOptions.routerVerifies, for this config's router;
 * `sourceMaps`: where logged stacks find the source maps of the bundle under test.
 */
export async function startScratchWorkerd(
  configPath: string,
  opts: { logger: Logger; binary?: boolean; timeoutMs?: number; extraArgs?: string[]; workerdPath?: string; socketName?: string; routerVerifies?: boolean; sourceMaps?: SourceMapLookup },
): Promise<ScratchWorkerd> {
  const gen = new Generation({
    logger: opts.logger,
    socket: { address: "127.0.0.1:0" },
    socketName: opts.socketName ?? "http",
    binary: opts.binary ?? true,
    extraArgs: opts.extraArgs ?? [],
    workerdPath: opts.workerdPath ?? resolveWorkerdBinary(),
    configPath,
    label: "scratch",
    output: { routerVerifies: opts.routerVerifies ?? false },
    sourceMaps: opts.sourceMaps,
  });
  const { port } = await gen.waitListening(opts.timeoutMs ?? 15_000);
  let stopping: Promise<void> | undefined;
  return {
    port,
    pid: gen.pid,
    stderr: () => gen.stderrTail(),
    stop() {
      stopping ??= gen.terminate(SCRATCH_STOP_GRACE_MS).then(() => undefined);
      return stopping;
    },
  };
}
