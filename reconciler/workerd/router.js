// The front worker of every workerd generation. Requests arrive as /<service>/<version>/...
// - static mode: each live version is a service binding named "<service>/<version>", so routing
//   is one map lookup.
// - loader mode (GRIDIRON_LOADER present): the live set is GRIDIRON_LIVE at start, replaced by
//   PUT /live on the `control` entrypoint (a private unix socket per generation); each version's
//   code is read from the read-only version store (GRIDIRON_VERSIONS) on its first request and
//   loaded with the Worker Loader, which keeps it warm under the key "<service>/<version>" (version
//   ids are content hashes, so a key always names the same code).
// The path is passed on unchanged: the Restate SDK finds /discover and /invoke/... at the end of
// the path, whatever prefix precedes them.
//
// Loader mode also bounds what stays loaded: the Worker Loader keeps every version it loaded for the
// life of the process, so past GRIDIRON_LOADED_MAX versions (build.ts; --workerd-loaded-max) the
// least recently used one is unloaded (see unload below) and loads again on its next request. A
// version that leaves the live set is unloaded at once. And it runs a full garbage collection in each
// loaded version, and in itself, once every so many requests (router-collections.js).
//
// Request identity (router-identity.js): before anything reaches a bundle, the request must carry a
// JWT that Restate signed with the mesh's key, for this path; anything else gets 401 and never
// reaches user code. Only /_gridiron/health is open.
//
// Ramps (a progressive rollout, reconciler/restate/ramp.ts): /<service>/ramp~<old>~<new>~<weight>/
// sends each invocation to <new> when a hash of its invocation id falls under the weight, else to
// <old>. Restate sends every attempt of an invocation with the same id, so all its attempts run on
// one version. Discovery (and anything that is not an invocation) goes to <new>.
//
// The modules: this one routes, loads and unloads versions, and answers the control entrypoint;
// router-identity.js checks request identity; router-collections.js collects garbage. They import
// nothing of this one (it passes them what they need), and workerd/router-source.ts hands all three
// to the config.
import {
  collect, collections, collectorOf, collectSoon, collectVersion, COLLECT_ENTRYPOINT, forgetCollector, GC_MODULE, GC_MODULE_SOURCE,
} from "./router-collections.js";
import { refusal } from "./router-identity.js";

export default {
  async fetch(request, env, ctx) {
    const path = new URL(request.url).pathname;
    if (path === "/_gridiron/health") return new Response("ok\n");
    collectSoon(ctx);
    const parts = path.split("/", 3);
    const refused = await refusal(request, env, path, parts);
    if (refused) return refused;
    if (parts.length === 3 && parts[2].startsWith("ramp~")) parts[2] = rampVersion(parts[2], request, path) ?? parts[2];
    if (env.GRIDIRON_LOADER) {
      const key = `${parts[1] ?? ""}/${parts[2] ?? ""}`;
      const entry = parts.length === 3 && parts[2] !== "" ? liveSet(env).get(key) : undefined;
      if (!entry) return new Response(`gridiron: no version served at /${key}\n`, { status: 404 });
      const stub = versionStub(env, key, entry);
      const idle = touch(key, entry, env.GRIDIRON_LOADED_MAX);
      if (idle.length > 0) ctx.waitUntil(Promise.all(idle.map(([k, e]) => unload(env, k, e, "the least recently used of the loaded versions"))));
      if (collect && collectorOf(key).due()) ctx.waitUntil(collectVersion(key, () => loaded.has(key), () => versionStub(env, key, entry)));
      return stub.getEntrypoint().fetch(request);
    }
    const target = parts.length === 3 && parts[2] !== "" ? env[`${parts[1]}/${parts[2]}`] : undefined;
    if (!target || typeof target.fetch !== "function") {
      return new Response(`gridiron: no version served at /${parts[1] ?? ""}/${parts[2] ?? ""}\n`, { status: 404 });
    }
    return target.fetch(request);
  },
};

/** The version a ramp sends this request to, or undefined when the segment is no ramp. */
function rampVersion(segment, request, path) {
  const m = /^ramp~([a-z0-9.-]+)~([a-z0-9.-]+)~(\d{1,2})$/.exec(segment);
  if (!m) return undefined;
  const id = /\/invoke\/[^/]+\/[^/]+$/.test(path) ? request.headers.get("x-restate-invocation-id") : null;
  if (!id) return m[2];
  return rampBucket(id) < Number(m[3]) ? m[2] : m[1];
}

/** 0..99: FNV-1a (32 bit) of the invocation id, modulo 100; the same as reconciler/restate/ramp.ts. */
function rampBucket(id) {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return (h >>> 0) % 100;
}

// Loader mode's control entrypoint, reached only through the generation's own unix socket: PUT/GET
// /live, and GET /collections (what the garbage collection did, per loaded version;
// router-collections.js).
export const control = {
  async fetch(request, env, ctx) {
    const path = new URL(request.url).pathname;
    if (path === "/collections") return Response.json(collections());
    if (path !== "/live") return new Response("not found\n", { status: 404 });
    if (request.method === "PUT") {
      const body = await request.json();
      if (typeof body !== "object" || body === null || Array.isArray(body)) return new Response("live set must be an object\n", { status: 400 });
      live = new Map(Object.entries(body));
      const dropped = [...loaded].filter(([k]) => !live.has(k));
      for (const [k] of dropped) forget(k);
      if (dropped.length > 0) ctx.waitUntil(Promise.all(dropped.map(([k, e]) => unload(env, k, e, "no longer live"))));
    }
    return Response.json([...liveSet(env).keys()]);
  },
};

let live; // Map "<service>/<version>" -> LiveEntry (build.ts)
function liveSet(env) {
  live ??= new Map(Object.entries(env.GRIDIRON_LIVE ?? {}));
  return live;
}

const LOADER_MODULE = {
  esModule: async (r) => ({ js: await r.text() }),
  commonJsModule: async (r) => ({ cjs: await r.text() }),
  text: async (r) => ({ text: await r.text() }),
  json: async (r) => ({ json: await r.json() }),
  wasm: async (r) => ({ wasm: await r.arrayBuffer() }),
  data: async (r) => ({ data: await r.arrayBuffer() }),
};

// Versions loaded in this process, least recently used first: key -> LiveEntry.
const loaded = new Map();

function forget(key) {
  loaded.delete(key);
  forgetCollector(key);
}

/** Marks `key` used; returns the versions past `max`, least recently used first, to unload. */
function touch(key, entry, max) {
  loaded.delete(key);
  loaded.set(key, entry);
  const out = [];
  for (const [k, e] of loaded) {
    if (!(loaded.size > max)) break;
    forget(k);
    out.push([k, e]);
  }
  return out;
}

// Every version is loaded behind a main module of ours that re-exports the bundle's main module and
// adds two entrypoints: the garbage collection's (router-collections.js), and the unload's. Asked,
// the latter calls abortIsolate(), which takes the version's isolate out of the Loader's map.
// Requests already in it run to their end (measured: a pending timer, a streamed body); the next
// request for the version loads it afresh. The abort runs after the entrypoint has answered, in a
// waitUntil task: called in the request itself, it fails that request, and workerd logs each unload
// as an error ("script terminated for unknown reasons").
const MAIN_MODULE = "__gridiron_main__.js";
const UNLOAD_ENTRYPOINT = "__gridironUnload";

function withGridironEntrypoints(code) {
  if (MAIN_MODULE in code.modules) return code;
  const main = JSON.stringify(`./${code.mainModule}`);
  code.modules[GC_MODULE] = { js: GC_MODULE_SOURCE };
  code.modules[MAIN_MODULE] = {
    js: [
      // First, so it runs before the bundle's code and takes `gc` out of its sight.
      `import { collectEntrypoint } from "./${GC_MODULE}";`,
      'import { abortIsolate } from "cloudflare:workers";',
      `export * from ${main};`,
      `export { default } from ${main};`,
      `export const ${COLLECT_ENTRYPOINT} = collectEntrypoint;`,
      `export const ${UNLOAD_ENTRYPOINT} = { fetch(request, env, ctx) { ctx.waitUntil(Promise.resolve().then(() => abortIsolate("gridiron: version unloaded"))); return new Response("unloading\\n"); } };`,
    ].join("\n"),
  };
  code.mainModule = MAIN_MODULE;
  return code;
}

async function unload(env, key, entry, why) {
  console.log(`gridiron: unloading ${key}, ${why}; it loads again on its next request`);
  try {
    await versionStub(env, key, entry).getEntrypoint(UNLOAD_ENTRYPOINT).fetch("http://gridiron/unload");
  } catch (err) {
    console.error(`gridiron: unloading ${key} failed: ${err?.message ?? err}`);
  }
}

/** The version `key` from the Worker Loader, which loads it (workerCode) unless it holds it. */
function versionStub(env, key, entry) {
  return env.GRIDIRON_LOADER.get(key, () => workerCode(env, key, entry));
}

/** The Worker Loader's description of one version, read from <versions>/<service>/<version>/bundle/. */
async function workerCode(env, key, entry) {
  const base = `http://versions/${key.split("/").map(encodeURIComponent).join("/")}/bundle/`;
  const modules = {};
  await Promise.all(entry.modules.map(async (m) => {
    const res = await env.GRIDIRON_VERSIONS.fetch(base + m.name.split("/").map(encodeURIComponent).join("/"));
    if (!res.ok) throw new Error(`${key}: module ${m.name} is not readable in the version store (HTTP ${res.status})`);
    modules[m.name] = await LOADER_MODULE[m.type](res);
    // Stack frames then name the version (`<service>/<version>/<module>:line:col`): every version
    // has its own index.js, and the daemon maps frames through that version's source map (stack.ts).
    if (m.type === "esModule") modules[m.name].js += `\n//# sourceURL=${key}/${m.name}\n`;
    if (m.type === "commonJsModule") modules[m.name].cjs += `\n//# sourceURL=${key}/${m.name}\n`;
  }));
  return withGridironEntrypoints({
    compatibilityDate: entry.compatibilityDate,
    compatibilityFlags: entry.compatibilityFlags,
    mainModule: entry.main,
    modules,
    env: entry.vars,
    globalOutbound: env.GRIDIRON_OUTBOUND,
  });
}
