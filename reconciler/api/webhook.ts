// The signature of the push webhook (POST /hooks/git), as GitHub signs it: `X-Hub-Signature-256:
// sha256=<hex HMAC-SHA256 of the raw body keyed with the secret>`. The webhook only triggers a
// pass; what is deployed still comes from the source's own fetch. The same signature goes on the
// notifications Gridiron sends (node/notify.ts), so one check serves both directions.
import { createHmac, timingSafeEqual } from "node:crypto";

/** Checks a signature header in constant time; a missing or malformed header is a mismatch. */
export function verifyHubSignature(secret: string, body: Uint8Array, header: string | string[] | undefined): boolean {
  if (typeof header !== "string") return false;
  const m = /^sha256=([0-9a-f]{64})$/i.exec(header.trim());
  if (!m) return false;
  const expected = createHmac("sha256", secret).update(body).digest();
  const given = Buffer.from(m[1]!, "hex");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The header value a sender puts on `body`: notifications, tests, and scripts that call the webhook. */
export function signHubBody(secret: string, body: Uint8Array | string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}
