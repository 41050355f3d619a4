// Suspensions kept in Restate (GridironSuspensions, in the system bundle beside the lock and the
// pins), so the registrar and every node hold back the same services whichever of them the
// operator asked. Any of them may write (`gridiron suspend` goes to one node's API). A failed read
// keeps what was read last: a Restate hiccup must not lift a suspension.
import type { HttpClient } from "../core/http-client.ts";
import { callSystemObject } from "./cluster.ts";
import { parseSuspensions, type Suspension, type SuspensionStore } from "../store/suspensions.ts";

const OBJECT = "GridironSuspensions";
const KEY = "cluster";

export class RestateSuspensions implements SuspensionStore {
  readonly #ingressUrl: string;
  readonly #http: HttpClient;
  #all = new Map<string, Suspension>();

  constructor(o: { ingressUrl: string; http: HttpClient }) {
    this.#ingressUrl = o.ingressUrl;
    this.#http = o.http;
  }

  async load(): Promise<void> {
    const r = await this.#call("all", undefined).catch(() => undefined);
    if (r?.status === 200) this.#all = parseSuspensions(JSON.parse(r.text));
  }

  entries(): [string, Suspension][] {
    return [...this.#all];
  }

  async set(scope: string, suspension: Suspension): Promise<void> {
    const r = await this.#call("set", { scope, suspension });
    if (r.status !== 200) throw new Error(`${OBJECT}/set answered ${r.status}: ${r.text.slice(0, 200)}`);
    this.#all.set(scope, suspension);
  }

  async delete(scope: string): Promise<void> {
    const r = await this.#call("delete", { scope });
    if (r.status !== 200) throw new Error(`${OBJECT}/delete answered ${r.status}: ${r.text.slice(0, 200)}`);
    this.#all.delete(scope);
  }

  #call(handler: string, body: unknown) {
    return callSystemObject(this.#http, this.#ingressUrl, OBJECT, KEY, handler, body);
  }
}
