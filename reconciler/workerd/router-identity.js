// Request identity, for the router (router.js): before anything reaches a bundle, the request must
// carry a JWT that Restate signed with the mesh's key (`x-restate-signature-scheme: v1`,
// `x-restate-jwt-v1`), checked here with WebCrypto Ed25519 against the public keys in the
// GRIDIRON_REQUEST_IDENTITY binding
// (`{"keys": {"publickeyv1_<base58>": "<raw key, base64url>", ...}}`, or `{"keys": null}` when
// verification is off; build.ts decodes Restate's key format, so the id is only matched as text).
// Checked: alg EdDSA, the signature, `aud` equal to the path under the deployment URI (so a token
// for /discover cannot invoke a handler, nor one for Greeter/greet call Greeter/greetLater), `nbf`
// and `exp` with a few seconds of clock skew. Anything else gets 401 and never reaches user code.
// Only /_gridiron/health is open (router.js).
const SKEW_S = 5;

// Imported keys, per isolate. Only finished results are shared between requests (workerd does not
// let one request wait on a promise another request created); concurrent first requests each import.
let keyCache; // { source, keys: Map<kid, CryptoKey> | null }

async function configuredKeys(env) {
  const config = env.GRIDIRON_REQUEST_IDENTITY;
  if (!config || typeof config !== "object" || !("keys" in config)) throw new Error("GRIDIRON_REQUEST_IDENTITY binding missing");
  const source = JSON.stringify(config.keys);
  if (keyCache?.source === source) return keyCache.keys;
  const keys = config.keys === null ? null : new Map(await Promise.all(Object.entries(config.keys).map(async ([kid, raw]) =>
    [kid, await crypto.subtle.importKey("raw", base64UrlDecode(raw), { name: "Ed25519" }, false, ["verify"])],
  )));
  keyCache = { source, keys };
  return keys;
}

/** The 401 for a request checkIdentity refused, or undefined when it may pass (router.js, lane.js). */
export async function refusal(request, env, path, parts) {
  const denied = await checkIdentity(request, env, path, parts);
  return denied ? new Response(`gridiron: unauthorized: ${denied}\n`, { status: 401, headers: { "content-type": "text/plain; charset=utf-8" } }) : undefined;
}

/** Why the request is refused, or undefined if it is signed by a configured key for this path. */
export async function checkIdentity(request, env, path, parts) {
  let keys;
  try {
    keys = await configuredKeys(env);
  } catch (err) {
    return `request identity is misconfigured (${err.message})`;
  }
  if (keys === null) return undefined;
  const scheme = request.headers.get("x-restate-signature-scheme");
  if (scheme !== "v1") return scheme ? `unsupported signature scheme ${JSON.stringify(scheme)}` : "request is not signed by this mesh's Restate";
  const jwt = request.headers.get("x-restate-jwt-v1");
  if (!jwt) return "x-restate-jwt-v1 is missing or not a JWT";
  let claims = verifiedFor === keys ? verified.get(jwt) : undefined;
  if (!claims) {
    const result = await verifySignature(jwt, keys);
    if (typeof result === "string") return result;
    claims = result;
    remember(jwt, claims, keys);
  }
  const audience = expectedAudience(path, parts);
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!audience || !aud.includes(audience)) return `JWT audience does not match ${JSON.stringify(audience ?? path)}`;
  const now = Math.floor(Date.now() / 1000);
  if (typeof claims.exp !== "number" || typeof claims.nbf !== "number") return "JWT lacks exp or nbf";
  if (now > claims.exp + SKEW_S) return "JWT has expired";
  if (now < claims.nbf - SKEW_S) return "JWT is not valid yet";
  return undefined;
}

// Tokens whose signature verified, with their claims. Restate mints one token per path and second,
// so under load most requests carry a token seen a moment ago: the Ed25519 check, the costliest
// step of the router's work per request, is skipped for them. Audience and expiry are still
// checked each time.
const verified = new Map();
let verifiedFor; // the key map the cached verdicts belong to
const VERIFIED_MAX = 1024;
function remember(jwt, claims, keys) {
  if (verifiedFor !== keys) {
    verified.clear();
    verifiedFor = keys;
  }
  if (verified.size >= VERIFIED_MAX) verified.delete(verified.keys().next().value);
  verified.set(jwt, claims);
}

/** The claims of a JWT signed (EdDSA) by one of `keys`, or why not. */
async function verifySignature(jwt, keys) {
  const segments = jwt.split(".");
  if (segments.length !== 3) return "x-restate-jwt-v1 is missing or not a JWT";
  let header, claims, signature;
  try {
    header = JSON.parse(new TextDecoder().decode(base64UrlDecode(segments[0])));
    claims = JSON.parse(new TextDecoder().decode(base64UrlDecode(segments[1])));
    signature = base64UrlDecode(segments[2]);
  } catch {
    return "x-restate-jwt-v1 is not a well-formed JWT";
  }
  if (typeof header !== "object" || header === null || typeof claims !== "object" || claims === null) return "x-restate-jwt-v1 is not a well-formed JWT";
  if (header.alg !== "EdDSA") return "JWT algorithm must be EdDSA";
  const candidates = typeof header.kid === "string" ? (keys.has(header.kid) ? [keys.get(header.kid)] : []) : [...keys.values()];
  if (candidates.length === 0) return "JWT is signed by a key this mesh does not trust";
  const input = new TextEncoder().encode(`${segments[0]}.${segments[1]}`);
  for (const key of candidates) {
    if (await crypto.subtle.verify({ name: "Ed25519" }, key, signature, input).catch(() => false)) return claims;
  }
  return "JWT signature does not verify";
}

/**
 * The audience Restate puts in its token for this request: the path under the deployment URI.
 * A deployment URI may carry more than /<service>/<version> (Gridiron adds a segment when it
 * registers a version again), so, like the SDK's own check, take "/invoke/<service>/<handler>" or
 * "/discover" from the end of the path; anything else is the path after /<service>/<version>.
 * The audience must lie wholly after /<service>/<version>.
 */
function expectedAudience(path, parts) {
  if (parts.length !== 3 || parts[2] === "") return undefined;
  const prefix = `/${parts[1]}/${parts[2]}`;
  const invoke = /\/invoke\/[^/]+\/[^/]+$/.exec(path);
  const tail = invoke ? invoke[0] : path.endsWith("/discover") ? "/discover" : path.slice(prefix.length);
  return tail && path.length - tail.length >= prefix.length ? tail : undefined;
}

function base64UrlDecode(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
}
