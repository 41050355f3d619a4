// The manager API's bearer token. Generated on first start into `<data>/api-token` (0600) unless
// GRIDIRON_API_TOKEN supplies one; required on every route but GET /healthz (and POST /hooks/git
// when it has its own HMAC secret) whenever the API is reachable from beyond this machine, or when
// asked for with --require-api-token. The CLI finds it the same way: GRIDIRON_API_TOKEN, else the
// file in the data dir.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";
import { join } from "node:path";
import { readSecretFile, writeSecretFileOnce } from "../store/secret-file.ts";

export const API_TOKEN_FILE = "api-token";
const TOKEN_PREFIX = "gridiron_";

export const apiTokenFile = (dataDir: string): string => join(dataDir, API_TOKEN_FILE);

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost" || h === "::1") return true;
  if (isIP(h) === 4) return h.startsWith("127.");
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  return mapped !== null && mapped[1]!.startsWith("127.");
}

/** The token file's content, creating it (a random 256-bit token) if missing. */
export async function loadOrCreateApiToken(dataDir: string, onWarning?: (message: string) => void): Promise<{ token: string; created: boolean }> {
  const file = apiTokenFile(dataDir);
  const created = await writeSecretFileOnce(file, () => `${TOKEN_PREFIX}${randomBytes(32).toString("base64url")}\n`);
  const token = (await readSecretFile(file, "API token", (mode) => onWarning?.(`API token ${file} had mode ${mode.toString(8)}; set to 600`))).trim();
  if (token.length < 16) throw new Error(`${file} holds no usable token (under 16 characters); delete it to have a new one generated`);
  return { token, created };
}

/** For clients: GRIDIRON_API_TOKEN, else the data dir's token file, else none (loopback without auth). */
export async function findApiToken(dataDir: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (env.GRIDIRON_API_TOKEN) return env.GRIDIRON_API_TOKEN;
  try {
    return (await readSecretFile(apiTokenFile(dataDir), "API token")).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** `Authorization: Bearer <token>` check in constant time (digests compared, so lengths leak nothing). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? "");
  if (!m) return false;
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(m[1]!), digest(token));
}
