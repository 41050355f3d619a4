// A lane (--lanes): one version on a socket of its own, in one isolate with the checks the router
// would make, so a call reaches the bundle without the router's hop into another isolate.
// Requests arrive as /<service>/<version>/... like the router's; the path is passed on unchanged.
// build.ts puts these modules beside the bundle's under "__gridiron__/", with "./version.js"
// re-exporting the bundle's main module, and gives the worker two bindings of its own, which the
// bundle does not see: GRIDIRON_LANE ("<service>/<version>") and the request identity keys.
//
// The imports run in this order: router-collections.js takes `gc` away before the bundle's code
// runs, and the collection it does in the router's isolate, it does here in the bundle's.
import { collectSoon } from "./router-collections.js";
import { refusal } from "./router-identity.js";
import version from "./version.js";

const OWN = ["GRIDIRON_LANE", "GRIDIRON_REQUEST_IDENTITY"];
let bundleEnv; // [env, the same without OWN]: env is one object per isolate

export default {
  async fetch(request, env, ctx) {
    const path = new URL(request.url).pathname;
    if (path === "/_gridiron/health") return new Response("ok\n");
    collectSoon(ctx);
    const parts = path.split("/", 3);
    if (parts.length !== 3 || `${parts[1]}/${parts[2]}` !== env.GRIDIRON_LANE) {
      return new Response(`gridiron: no version served at /${parts[1] ?? ""}/${parts[2] ?? ""} (this lane serves ${env.GRIDIRON_LANE})\n`, { status: 404 });
    }
    const refused = await refusal(request, env, path, parts);
    if (refused) return refused;
    if (bundleEnv?.[0] !== env) bundleEnv = [env, Object.fromEntries(Object.entries(env).filter(([k]) => !OWN.includes(k)))];
    return version.fetch(request, bundleEnv[1], ctx);
  },
};
