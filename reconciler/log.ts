import { pino, type Logger } from "pino";

export type { Logger };

export function createLogger(opts: { level: string; format: "json" | "pretty"; name?: string }): Logger {
  if (opts.format === "pretty") {
    return pino({
      name: opts.name ?? "gridiron",
      level: opts.level,
      base: {},
      transport: { target: "pino-pretty", options: { colorize: true, translateTime: "HH:MM:ss.l", ignore: "pid,hostname,name" } },
    });
  }
  // base: {} drops pino's own pid/hostname: child loggers carry the pid that matters (workerd's,
  // restate-server's) and one process is one node anyway.
  return pino({ name: opts.name ?? "gridiron", level: opts.level, base: {} });
}
