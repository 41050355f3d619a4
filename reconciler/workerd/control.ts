// Loader mode's control channel: requests to one generation's private unix socket, answered by the
// router's `control` entrypoint (router.js).
import { GridironError } from "../core/errors.ts";
import type { HttpClient } from "../core/http-client.ts";

/**
 * PUT a JSON body to a generation's control socket. workerd reports `listen` per socket, so the
 * control socket may come up a moment after the HTTP one: a missing socket is retried briefly.
 */
export async function putJson(client: HttpClient, socketPath: string, urlPath: string, body: unknown, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    let res;
    try {
      res = await client.request(`http://workerd${urlPath}`, { method: "PUT", socketPath, headers: { "content-type": "application/json" }, body: JSON.stringify(body), timeoutMs });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== "ENOENT" && code !== "ECONNREFUSED") || Date.now() > deadline) {
        throw new GridironError("WORKERD_CONTROL", `workerd control socket ${socketPath}: ${(err as Error).message}`, { socketPath }, { cause: err });
      }
      await new Promise((r) => setTimeout(r, Math.min(50, 5 * 2 ** attempt)));
      continue;
    }
    if (res.status !== 200) throw new GridironError("WORKERD_CONTROL", `workerd control ${urlPath} answered ${res.status}: ${res.text.slice(0, 200)}`, { socketPath });
    return;
  }
}
