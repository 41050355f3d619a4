// Restate's request identity: restate-server signs every request it sends to a deployment (discovery
// and invocations) with an Ed25519 key, as a JWT in `x-restate-jwt-v1` (scheme header
// `x-restate-signature-scheme: v1`, `aud` = the path under the deployment URI such as "/discover" or
// "/invoke/Greeter/greet", `nbf`/`exp` = now ∓ 60 s, `kid` = the public key). Gridiron generates
// that key pair on first start in `<data>/identity/`, hands the private key file to restate-server
// (`[worker.invoker] request-identity-private-key-pem-file`) and the public key to workerd's router,
// which refuses every service request not signed with it.
//
// The public key is written in Restate's own format, `publickeyv1_<base58 of the 32 raw bytes>`,
// the string the SDK's `identityKeys` option takes: a bundle can verify the same signatures itself.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { writeFileAtomic } from "../core/atomic-write.ts";
import { readSecretFile, writeSecretFileOnce } from "../store/secret-file.ts";
import { GridironError } from "../core/errors.ts";

export const IDENTITY_DIR = "identity";
export const PRIVATE_KEY_FILE = "private.pem";
export const PUBLIC_KEY_FILE = "public-key";
export const PUBLIC_KEY_PREFIX = "publickeyv1_";
/** Lifetime Restate gives its tokens (either side of iat); Gridiron's own tokens use the same. */
export const TOKEN_LEEWAY_S = 60;
export const SCHEME_HEADER = "x-restate-signature-scheme";
export const JWT_HEADER = "x-restate-jwt-v1";

const BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

export function base58Encode(bytes: Uint8Array): string {
  let n = 0n;
  for (const b of bytes) n = n * 256n + BigInt(b);
  let out = "";
  while (n > 0n) {
    out = BASE58[Number(n % 58n)] + out;
    n /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    out = "1" + out;
  }
  return out;
}

export function base58Decode(text: string): Uint8Array {
  let n = 0n;
  for (const c of text) {
    const digit = BASE58.indexOf(c);
    if (digit < 0) throw new Error(`not base58: ${JSON.stringify(c)}`);
    n = n * 58n + BigInt(digit);
  }
  const bytes: number[] = [];
  while (n > 0n) {
    bytes.unshift(Number(n % 256n));
    n /= 256n;
  }
  for (const c of text) {
    if (c !== "1") break;
    bytes.unshift(0);
  }
  return Uint8Array.from(bytes);
}

/** `publickeyv1_<base58>` of an Ed25519 public key. */
export function publicKeyV1(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: "jwk" });
  if (jwk.crv !== "Ed25519" || typeof jwk.x !== "string") throw new Error("not an Ed25519 public key");
  return PUBLIC_KEY_PREFIX + base58Encode(Buffer.from(jwk.x, "base64url"));
}

/** True for a well-formed `publickeyv1_…` string (32 bytes once decoded). */
export function isPublicKeyV1(key: string): boolean {
  if (!key.startsWith(PUBLIC_KEY_PREFIX)) return false;
  try {
    return base58Decode(key.slice(PUBLIC_KEY_PREFIX.length)).length === 32;
  } catch {
    return false;
  }
}

const b64url = (value: string | Uint8Array): string => Buffer.from(value).toString("base64url");

/**
 * A JWT as Restate signs it (EdDSA, `kid` = the public key, `aud` = the path under the deployment
 * URI). Exposed for Gridiron's own discovery calls and for tests (expired or foreign tokens).
 */
export function signIdentityJwt(privateKey: KeyObject, claims: { aud: string; nowS?: number; ttlS?: number; nbfS?: number }): string {
  const now = claims.nowS ?? Math.floor(Date.now() / 1000);
  const ttl = claims.ttlS ?? TOKEN_LEEWAY_S;
  const header = { typ: "JWT", alg: "EdDSA", kid: publicKeyV1(createPublicKey(privateKey)) };
  const payload = { aud: claims.aud, exp: now + ttl, iat: now, nbf: claims.nbfS ?? now - TOKEN_LEEWAY_S };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  return `${input}.${b64url(sign(null, Buffer.from(input), privateKey))}`;
}

/** Headers that make a request to `path` (under a deployment URI) pass the router's check. */
export function identityHeaders(privateKey: KeyObject, path: string): Record<string, string> {
  return { [SCHEME_HEADER]: "v1", [JWT_HEADER]: signIdentityJwt(privateKey, { aud: path }) };
}

/**
 * The key pair of one data dir. The private key stays inside this object (and in the 0600 file
 * restate-server reads); nothing here puts it in a log line, an error or a status field.
 */
export class RequestIdentity {
  readonly privateKeyFile: string;
  readonly publicKeyFile: string;
  /** `publickeyv1_…`: safe to print, log and copy into a bundle's `identityKeys`. */
  readonly publicKey: string;
  readonly #privateKey: KeyObject;

  constructor(files: { privateKeyFile: string; publicKeyFile: string }, privateKey: KeyObject) {
    this.privateKeyFile = files.privateKeyFile;
    this.publicKeyFile = files.publicKeyFile;
    this.#privateKey = privateKey;
    this.publicKey = publicKeyV1(createPublicKey(privateKey));
  }

  /** Signed headers for a request to `path` under a deployment URI, e.g. "/discover". */
  sign(path: string): Record<string, string> {
    return identityHeaders(this.#privateKey, path);
  }

  toJSON(): { privateKeyFile: string; publicKey: string } {
    return { privateKeyFile: this.privateKeyFile, publicKey: this.publicKey };
  }
}

/**
 * Loads `<dataDir>/identity/private.pem`, generating the key pair on first start. The public key
 * file is (re)written from the private key each time, so it can never disagree with it.
 */
export async function loadOrCreateIdentity(dataDir: string, onWarning?: (message: string) => void, sharedKeyFile?: string): Promise<{ identity: RequestIdentity; created: boolean }> {
  const dir = join(dataDir, IDENTITY_DIR);
  const publicKeyFile = join(dir, PUBLIC_KEY_FILE);
  // A cluster shares one key (a mounted Secret, often read-only): it is read, never created or chmodded.
  const privateKeyFile = sharedKeyFile || join(dir, PRIVATE_KEY_FILE);
  const created = sharedKeyFile ? false : await writeSecretFileOnce(privateKeyFile, () => generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }) as string);
  const pem = sharedKeyFile
    ? await readFile(sharedKeyFile, "utf8").catch((err: NodeJS.ErrnoException) => {
      throw new GridironError("IDENTITY_KEY_INVALID", `cannot read the shared request identity key ${sharedKeyFile} (--identity-key-file): ${err.code ?? err.message}`);
    })
    : await readSecretFile(privateKeyFile, "request identity key", (mode) =>
      onWarning?.(`request identity key ${privateKeyFile} had mode ${mode.toString(8)}; set to 600`));
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch {
    // Never echo the file's content: it is (or was meant to be) a private key.
    throw new GridironError("IDENTITY_KEY_INVALID", `${privateKeyFile} is not a PEM private key; move it away to let Gridiron generate a new one (bundles that pin the old public key must be updated)`);
  }
  if (privateKey.asymmetricKeyType !== "ed25519") {
    throw new GridironError("IDENTITY_KEY_INVALID", `${privateKeyFile} holds a ${privateKey.asymmetricKeyType} key; Restate's request identity needs Ed25519`);
  }
  const identity = new RequestIdentity({ privateKeyFile, publicKeyFile }, privateKey);
  await writePublicKey(publicKeyFile, identity.publicKey);
  return { identity, created };
}

async function writePublicKey(file: string, key: string): Promise<void> {
  const current = await readFile(file, "utf8").catch(() => "");
  if (current.trim() === key) return;
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, `${key}\n`);
}
