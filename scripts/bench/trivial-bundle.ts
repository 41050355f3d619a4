// A tiny bundle that reaches "many versions live" cheaply: one ES module of a few hundred bytes
// that answers Restate's /discover with a minimal valid endpoint manifest (the shape the 1.17 SDK
// returns, one service with one handler) and is never invoked. Each gets its own Restate service
// name so hundreds of them register side by side. A Restate SDK bundle is megabytes on disk and
// more in its isolate; this is what lets the reconcile-cost section reach hundreds of versions.
import { randomBytes } from "node:crypto";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";

/** Bundle (directory and Gridiron service) name: a DNS-label-safe name. */
export const trivialName = (i: number): string => `triv-${String(i).padStart(4, "0")}`;
/** The Restate service it declares. */
export const trivialRestateService = (i: number): string => `Triv${String(i).padStart(4, "0")}`;

function source(restateService: string, salt: string): string {
  const manifest = {
    minProtocolVersion: 5,
    maxProtocolVersion: 7,
    services: [
      {
        name: restateService,
        ty: "SERVICE",
        handlers: [{ name: "noop", input: { required: false, contentType: "application/json" }, output: { setContentTypeIfEmpty: false, contentType: "application/json" } }],
      },
    ],
    protocolMode: "REQUEST_RESPONSE",
  };
  return `// gridiron bench trivial bundle, salt ${salt}
const MANIFEST = ${JSON.stringify(JSON.stringify(manifest))};
export default {
  fetch(request) {
    if (new URL(request.url).pathname.endsWith("/discover")) {
      const accept = request.headers.get("accept") ?? "";
      const v = accept.includes("endpointmanifest.v4") ? 4 : 3;
      return new Response(MANIFEST, { headers: { "content-type": "application/vnd.restate.endpointmanifest.v" + v + "+json" } });
    }
    return new Response("this bench bundle is never invoked", { status: 501 });
  },
};
`;
}

/**
 * Writes `<bundlesDir>/<trivialName(i)>/` (index.js + gridiron.json) through a dot-prefixed temp
 * dir and a rename, replacing an existing one. A new `salt` makes a new version.
 */
export async function writeTrivialBundle(bundlesDir: string, i: number, salt = "0"): Promise<string> {
  const name = trivialName(i);
  const tmp = path.join(bundlesDir, `.${name}.tmp-${randomBytes(4).toString("hex")}`);
  await mkdir(tmp, { recursive: true });
  await writeFile(path.join(tmp, "index.js"), source(trivialRestateService(i), salt));
  await writeFile(path.join(tmp, "gridiron.json"), `${JSON.stringify({ name, main: "index.js", compatibilityDate: "2026-11-01" })}\n`);
  const dir = path.join(bundlesDir, name);
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
  return dir;
}
