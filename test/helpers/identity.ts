// Requests straight to workerd (not through Restate) must be signed like Restate signs them: these
// helpers sign with a mesh's own key from its data dir, or with any other key.
import { createPrivateKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { IDENTITY_DIR, JWT_HEADER, PRIVATE_KEY_FILE, SCHEME_HEADER, signIdentityJwt } from "../../reconciler/restate/identity.ts";

/** The mesh's request identity private key (`<dataDir>/identity/private.pem`). */
export function meshKey(dataDir: string): KeyObject {
  return createPrivateKey(readFileSync(path.join(dataDir, IDENTITY_DIR, PRIVATE_KEY_FILE), "utf8"));
}

/** A fresh key no mesh trusts. */
export function foreignKey(): KeyObject {
  return generateKeyPairSync("ed25519").privateKey;
}

/**
 * Headers for a request to workerd at /<service>/<version><aud>, e.g. aud "/discover"; the claims
 * can be bent (other audience, expired) to test refusals.
 */
export function signedHeaders(key: KeyObject, aud: string, claims: { nowS?: number; ttlS?: number; nbfS?: number } = {}): Record<string, string> {
  return { [SCHEME_HEADER]: "v1", [JWT_HEADER]: signIdentityJwt(key, { aud, ...claims }) };
}
