import { mkdirSync, renameSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { pino, type Logger } from "pino";
import pinoPretty from "pino-pretty";

export type { Logger };

/** The daemon's JSON log, beside what it prints (so `gridiron logs` works after the fact). */
export const logFile = (dataDir: string): string => join(dataDir, "logs", "gridiron.log");
const LOG_FILE_MAX_BYTES = 32 * 1024 * 1024;

/**
 * The daemon's logger: what createLogger() prints (JSON, or pretty in a terminal), and the same
 * lines as JSON in <data-dir>/logs/gridiron.log, written synchronously so the lines before a crash
 * are there. Past LOG_FILE_MAX_BYTES the file is renamed to gridiron.log.1 (checked at start and
 * every minute) and a new one begun.
 */
export function createDaemonLogger(o: { dataDir: string; logFormat: "json" | "pretty"; logLevel: string }): { logger: Logger; close(): void } {
  const file = logFile(o.dataDir);
  mkdirSync(dirname(file), { recursive: true });
  const rotate = () => {
    try {
      if (statSync(file).size < LOG_FILE_MAX_BYTES) return false;
      renameSync(file, `${file}.1`);
      return true;
    } catch {
      return false;
    }
  };
  rotate();
  const toFile = pino.destination({ dest: file, sync: true, mkdir: true });
  const toOut = o.logFormat === "pretty"
    ? pinoPretty({ colorize: true, translateTime: "HH:MM:ss.l", ignore: "pid,hostname,name", sync: true })
    : pino.destination({ dest: 1, sync: true });
  const level = o.logLevel;
  const logger = pino({ name: "gridiron", level, base: {} }, pino.multistream([{ level, stream: toOut }, { level, stream: toFile }]));
  const timer = setInterval(() => rotate() && toFile.reopen(), 60_000);
  timer.unref();
  return { logger, close: () => clearInterval(timer) };
}
