// Request identity keys and the API token: generation on first start, file modes, reloading,
// Restate's key format, JWTs as Restate signs them, and the options that switch them.
import { createPrivateKey, createPublicKey, generateKeyPairSync, verify } from "node:crypto";
import { chmod, lstat, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_TOKEN_FILE, bearerMatches, findApiToken, isLoopbackHost, loadOrCreateApiToken } from "../../reconciler/api/auth.ts";
import {
  IDENTITY_DIR, PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, base58Decode, base58Encode, isPublicKeyV1, loadOrCreateIdentity, publicKeyV1, signIdentityJwt,
} from "../../reconciler/restate/identity.ts";
import { resolveOptions } from "../../reconciler/node/options.ts";

let root: string;
let n = 0;
const freshDir = async () => {
  const dir = path.join(root, `data-${++n}`);
  await mkdir(dir);
  return dir;
};
const mode = async (file: string) => (await lstat(file)).mode & 0o777;
const decode = (part: string) => JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as Record<string, unknown>;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "gridiron-identity-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("base58 and publickeyv1_", () => {
  it.each([
    ["empty", [], ""],
    ["zero byte", [0], "1"],
    ["leading zeros", [0, 0, 1], "112"],
    ["hello", [...Buffer.from("hello")], "Cn8eVZg"],
  ])("%s", (_label, bytes, text) => {
    expect(base58Encode(Uint8Array.from(bytes))).toBe(text);
    expect([...base58Decode(text)]).toEqual(bytes);
  });

  it("matches Restate's own test vector (restate service-client request_identity/v1.rs)", () => {
    const pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIPe++4ZTPQDF81otpoU/mOGHC2vOAVp9WbiCblvn3nXO\n-----END PRIVATE KEY-----\n";
    expect(publicKeyV1(createPublicKey(createPrivateKey(pem)))).toBe("publickeyv1_AfQwmwfgEZhrWpvv8N52SHpRtZqGGaFr4AZN6qtYWSiY");
  });

  it("round-trips random keys and recognises well-formed ones only", () => {
    for (let i = 0; i < 20; i++) {
      const key = publicKeyV1(generateKeyPairSync("ed25519").publicKey);
      expect(isPublicKeyV1(key)).toBe(true);
      expect(base58Decode(key.slice("publickeyv1_".length))).toHaveLength(32);
    }
    for (const bad of ["", "publickeyv1_", "publickeyv2_AfQwmwfgEZhrWpvv8N52SHpRtZqGGaFr4AZN6qtYWSiY", "publickeyv1_0000", "publickeyv1_AfQw"]) {
      expect(isPublicKeyV1(bad), bad).toBe(false);
    }
  });
});

describe("signIdentityJwt", () => {
  it("signs like restate-server: EdDSA, kid = public key, aud = path, nbf/exp = now ∓ 60 s", () => {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const jwt = signIdentityJwt(privateKey, { aud: "/invoke/Greeter/greet", nowS: 1_000_000 });
    const [h, p, s] = jwt.split(".") as [string, string, string];
    expect(decode(h)).toEqual({ typ: "JWT", alg: "EdDSA", kid: publicKeyV1(publicKey) });
    expect(decode(p)).toEqual({ aud: "/invoke/Greeter/greet", iat: 1_000_000, nbf: 1_000_000 - 60, exp: 1_000_000 + 60 });
    expect(verify(null, Buffer.from(`${h}.${p}`), publicKey, Buffer.from(s, "base64url"))).toBe(true);
  });
});

describe("loadOrCreateIdentity", () => {
  it("generates an Ed25519 key on first start: private key 0600 in a 0700 dir, public key beside it", async () => {
    const dir = await freshDir();
    const { identity, created } = await loadOrCreateIdentity(dir);
    expect(created).toBe(true);
    const keyFile = path.join(dir, IDENTITY_DIR, PRIVATE_KEY_FILE);
    expect(identity.privateKeyFile).toBe(keyFile);
    expect(await mode(keyFile)).toBe(0o600);
    expect(await mode(path.join(dir, IDENTITY_DIR))).toBe(0o700);
    const pem = await readFile(keyFile, "utf8");
    expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(createPrivateKey(pem).asymmetricKeyType).toBe("ed25519");
    expect((await readFile(path.join(dir, IDENTITY_DIR, PUBLIC_KEY_FILE), "utf8")).trim()).toBe(identity.publicKey);
    expect(isPublicKeyV1(identity.publicKey)).toBe(true);
    // No temp files left behind.
    expect((await readdir(path.join(dir, IDENTITY_DIR))).sort()).toEqual([PRIVATE_KEY_FILE, PUBLIC_KEY_FILE].sort());
  });

  it("keeps the key across restarts (bundles may pin the public key)", async () => {
    const dir = await freshDir();
    const first = await loadOrCreateIdentity(dir);
    const second = await loadOrCreateIdentity(dir);
    expect(second.created).toBe(false);
    expect(second.identity.publicKey).toBe(first.identity.publicKey);
  });

  it("concurrent first starts agree on one key", async () => {
    const dir = await freshDir();
    const all = await Promise.all([1, 2, 3, 4].map(() => loadOrCreateIdentity(dir)));
    expect(new Set(all.map((r) => r.identity.publicKey)).size).toBe(1);
    expect(all.filter((r) => r.created)).toHaveLength(1);
  });

  it("tightens a key file others can read, and says so", async () => {
    const dir = await freshDir();
    const { identity } = await loadOrCreateIdentity(dir);
    await chmod(identity.privateKeyFile, 0o644);
    const warnings: string[] = [];
    await loadOrCreateIdentity(dir, (m) => warnings.push(m));
    expect(await mode(identity.privateKeyFile)).toBe(0o600);
    expect(warnings.join("\n")).toMatch(/mode 644; set to 600/);
  });

  it("refuses a key file that is not a key, without echoing its content, and never overwrites it", async () => {
    const dir = await freshDir();
    await mkdir(path.join(dir, IDENTITY_DIR), { mode: 0o700 });
    const file = path.join(dir, IDENTITY_DIR, PRIVATE_KEY_FILE);
    await writeFile(file, "not-a-key-but-maybe-a-secret-value", { mode: 0o600 });
    const err = await loadOrCreateIdentity(dir).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/is not a PEM private key/);
    expect(JSON.stringify(err)).not.toContain("maybe-a-secret-value");
    expect((err as Error).message).not.toContain("maybe-a-secret-value");
    expect(await readFile(file, "utf8")).toBe("not-a-key-but-maybe-a-secret-value");
  });

  it("refuses a key of another type", async () => {
    const dir = await freshDir();
    await mkdir(path.join(dir, IDENTITY_DIR), { mode: 0o700 });
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    await writeFile(path.join(dir, IDENTITY_DIR, PRIVATE_KEY_FILE), privateKey.export({ format: "pem", type: "pkcs8" }), { mode: 0o600 });
    await expect(loadOrCreateIdentity(dir)).rejects.toThrow(/holds a ec key; Restate's request identity needs Ed25519/);
  });

  it("refuses a symlinked key file", async () => {
    const dir = await freshDir();
    const real = path.join(root, `elsewhere-${n}.pem`);
    await writeFile(real, generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }), { mode: 0o600 });
    await mkdir(path.join(dir, IDENTITY_DIR), { mode: 0o700 });
    await symlink(real, path.join(dir, IDENTITY_DIR, PRIVATE_KEY_FILE));
    await expect(loadOrCreateIdentity(dir)).rejects.toThrow(/not a regular file/);
  });

  it("never serialises the private key", async () => {
    const dir = await freshDir();
    const { identity } = await loadOrCreateIdentity(dir);
    const pem = await readFile(identity.privateKeyFile, "utf8");
    const body = pem.split("\n")[1]!;
    const { inspect } = await import("node:util");
    for (const text of [JSON.stringify(identity), inspect(identity, { depth: 5, showHidden: true }), String(identity)]) {
      expect(text).not.toContain(body);
    }
    expect(JSON.parse(JSON.stringify(identity))).toEqual({ privateKeyFile: identity.privateKeyFile, publicKey: identity.publicKey });
  });
});

describe("API token", () => {
  it("is generated once into <data>/api-token with mode 0600, and found by clients", async () => {
    const dir = await freshDir();
    const first = await loadOrCreateApiToken(dir);
    expect(first.created).toBe(true);
    expect(first.token).toMatch(/^gridiron_[A-Za-z0-9_-]{43}$/);
    expect(await mode(path.join(dir, API_TOKEN_FILE))).toBe(0o600);
    const again = await loadOrCreateApiToken(dir);
    expect(again).toEqual({ token: first.token, created: false });
    expect(await findApiToken(dir, {})).toBe(first.token);
    expect(await findApiToken(dir, { GRIDIRON_API_TOKEN: "from-env" })).toBe("from-env");
    expect(await findApiToken(await freshDir(), {})).toBeUndefined();
  });

  it.each([
    ["the right token", "Bearer s3cret-token-value", true],
    ["scheme in another case", "bearer s3cret-token-value", true],
    ["no header", undefined, false],
    ["another token", "Bearer s3cret-token-valuf", false],
    ["a prefix of it", "Bearer s3cret", false],
    ["basic auth", "Basic s3cret-token-value", false],
    ["the bare token", "s3cret-token-value", false],
    ["two tokens", "Bearer s3cret-token-value s3cret-token-value", false],
  ])("bearerMatches: %s", (_label, header, ok) => {
    expect(bearerMatches(header, "s3cret-token-value")).toBe(ok);
  });
});

describe("options", () => {
  it.each([
    ["127.0.0.1", true], ["127.0.0.2", true], ["localhost", true], ["::1", true], ["[::1]", true], ["::ffff:127.0.0.1", true],
    ["0.0.0.0", false], ["::", false], ["10.0.0.5", false], ["192.168.1.2", false], ["example.com", false], ["128.0.0.1", false],
  ])("isLoopbackHost(%s) = %s", (host, loopback) => {
    expect(isLoopbackHost(host)).toBe(loopback);
  });

  it("defaults: outbound public, request identity on, no API token needed on loopback", () => {
    const o = resolveOptions({}, {}, root);
    expect(o).toMatchObject({ outbound: "public", requestIdentity: true, requireApiToken: false, apiToken: "" });
  });

  it("a non-loopback host forces the API token, and refuses it being turned off", () => {
    expect(resolveOptions({ host: "0.0.0.0" }, {}, root).requireApiToken).toBe(true);
    expect(() => resolveOptions({ host: "0.0.0.0", "require-api-token": "false" }, {}, root)).toThrow(/cannot be false with --host 0.0.0.0/);
    expect(resolveOptions({ "require-api-token": "true" }, {}, root).requireApiToken).toBe(true);
    expect(resolveOptions({}, { GRIDIRON_REQUIRE_API_TOKEN: "1" }, root).requireApiToken).toBe(true);
  });

  it("outbound accepts public, none, all only; the API token comes from the environment only", () => {
    for (const v of ["public", "none", "all"]) expect(resolveOptions({ outbound: v }, {}, root).outbound).toBe(v);
    expect(() => resolveOptions({ outbound: "internet" }, {}, root)).toThrow(/expected public, none, all/);
    expect(resolveOptions({ "api-token": "from-flag" }, { GRIDIRON_API_TOKEN: "from-env" }, root).apiToken).toBe("from-env");
    expect(resolveOptions({ "request-identity": "false" }, {}, root).requestIdentity).toBe(false);
  });
});
