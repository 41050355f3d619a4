// The front worker of every workerd generation. Requests arrive as /<service>/<version>/...; each
// live version is a service binding named "<service>/<version>", so routing is one map lookup.
// The path is passed on unchanged: the Restate SDK finds /discover and /invoke/... at the end of
// the path, whatever prefix precedes them.
export default {
  async fetch(request, env) {
    const path = new URL(request.url).pathname;
    if (path === "/_gridiron/health") return new Response("ok\n");
    const parts = path.split("/", 3);
    const target = parts.length === 3 && parts[2] !== "" ? env[`${parts[1]}/${parts[2]}`] : undefined;
    if (!target || typeof target.fetch !== "function") {
      return new Response(`gridiron: no version served at /${parts[1] ?? ""}/${parts[2] ?? ""}\n`, { status: 404 });
    }
    return target.fetch(request);
  },
};
