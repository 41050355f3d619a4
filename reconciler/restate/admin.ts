// Client for restate-server's admin API (:9070). Restate is the record of what is registered, so
// this is how the reconciler learns "actual". HTTP failures keep Restate's response body.
import { GridironError } from "../core/errors.ts";
import { HttpClient } from "../core/http-client.ts";

export interface Deployment {
  id: string;
  uri: string;
  createdAt: string;
  metadata: Record<string, string>;
  services: { name: string; revision: number }[];
}

export interface RestateService {
  name: string;
  /** The deployment new calls for this service go to. */
  deploymentId: string;
  handlers: string[];
}

export interface RegisterOptions {
  uri: string;
  metadata?: Record<string, string>;
  /** Restate's default is true (override an existing deployment at the same URI); ours is false. */
  force?: boolean;
  breaking?: boolean;
  dryRun?: boolean;
  /** Headers Restate adds to every request it sends to the deployment. */
  headers?: Record<string, string>;
}

export interface RegisterResult {
  id: string;
  services: { name: string; revision: number; handlers?: { name: string }[] }[];
}

interface RawDeployment {
  id: string;
  uri?: string;
  created_at: string;
  metadata?: Record<string, string>;
  services: { name: string; revision: number }[];
}

export class RestateAdmin {
  /** Every admin URL given: the nodes of a Restate cluster each serve the same admin API. */
  readonly baseUrls: readonly string[];
  #current = 0;
  readonly #timeoutMs: number;
  readonly #headers: Record<string, string>;
  readonly #http = new HttpClient();

  /**
   * `baseUrl`: one admin URL, or several (comma-separated or a list) to fail over between.
   * `headers` go with every request (a registrar's read-only proxy wants the API token).
   */
  constructor(baseUrl: string | readonly string[], opts: { timeoutMs?: number; headers?: Record<string, string> } = {}) {
    const urls = (typeof baseUrl === "string" ? baseUrl.split(",") : baseUrl).map((u) => u.trim().replace(/\/+$/, "")).filter(Boolean);
    if (urls.length === 0) throw new GridironError("CONFIG_INVALID", "no Restate admin URL given");
    this.baseUrls = urls;
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
    this.#headers = opts.headers ?? {};
  }

  /** One request as it is (status and body), for Gridiron's read-only pass-through of this API. */
  forward(method: string, path: string, body?: string): Promise<{ status: number; text: string }> {
    return this.#request(method, path, body === undefined || body === "" ? undefined : JSON.parse(body));
  }

  /** The admin URL in use: the last one that answered. */
  get baseUrl(): string {
    return this.baseUrls[this.#current]!;
  }

  /**
   * One request, to the admin URL that answered last; one that cannot be reached hands over to the
   * next (a node of the cluster that is down costs a connect attempt, not the request).
   */
  async #request(method: string, path: string, body?: unknown, timeoutMs = this.#timeoutMs): Promise<{ status: number; text: string }> {
    let lastErr: unknown;
    for (let tried = 0; tried < this.baseUrls.length; tried++) {
      const i = (this.#current + tried) % this.baseUrls.length;
      try {
        const res = await this.#http.request(`${this.baseUrls[i]}${path}`, {
          method,
          headers: { ...this.#headers, ...(body === undefined ? {} : { "content-type": "application/json", accept: "application/json" }) },
          body: body === undefined ? undefined : JSON.stringify(body),
          timeoutMs,
        });
        this.#current = i;
        return res;
      } catch (err) {
        lastErr = err;
      }
    }
    throw new GridironError("RESTATE_UNREACHABLE", `restate admin API at ${this.baseUrls.join(", ")} unreachable (${method} ${path}): ${(lastErr as Error).message}`,
      { url: `${this.baseUrl}${path}` }, { cause: lastErr });
  }

  /** Closes pooled connections from our side; call before stopping restate-server. */
  close(): void {
    this.#http.close();
  }

  #fail(method: string, path: string, status: number, text: string, what: string): never {
    let message = text;
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? text;
    } catch {
      /* not JSON: keep the raw body */
    }
    // A 4xx is Restate refusing the request (needs a human); a 5xx or 429 is worth retrying.
    const code = status >= 500 || status === 429 ? "RESTATE_HTTP_RETRY" : "RESTATE_HTTP";
    throw new GridironError(code, `${what}: restate answered ${status}: ${message}`, { method, path, status, body: text.slice(0, 4000) });
  }

  async health(): Promise<boolean> {
    try {
      return (await this.#request("GET", "/health", undefined, 2000)).status === 200;
    } catch {
      return false;
    }
  }

  async listDeployments(): Promise<Deployment[]> {
    const { status, text } = await this.#request("GET", "/deployments");
    if (status !== 200) this.#fail("GET", "/deployments", status, text, "listing deployments");
    const raw = JSON.parse(text) as { deployments: RawDeployment[] };
    return raw.deployments
      .filter((d) => typeof d.uri === "string")
      .map((d) => ({ id: d.id, uri: d.uri!, createdAt: d.created_at, metadata: d.metadata ?? {}, services: d.services.map((s) => ({ name: s.name, revision: s.revision })) }));
  }

  /** Registers (or with dryRun, only discovers) an HTTP/1.1 deployment. */
  async register(opts: RegisterOptions): Promise<RegisterResult> {
    const body = {
      uri: opts.uri,
      use_http_11: true,
      force: opts.force ?? false,
      breaking: opts.breaking ?? false,
      dry_run: opts.dryRun ?? false,
      metadata: opts.metadata ?? {},
      ...(opts.headers ? { additional_headers: opts.headers } : {}),
    };
    const { status, text } = await this.#request("POST", "/deployments", body);
    if (status !== 200 && status !== 201) this.#fail("POST", "/deployments", status, text, `registering ${opts.uri}`);
    return JSON.parse(text) as RegisterResult;
  }

  /** Deregisters; an unknown deployment counts as already done. */
  async deregister(id: string, opts: { force?: boolean } = {}): Promise<void> {
    const path = `/deployments/${encodeURIComponent(id)}?force=${opts.force ?? true}`;
    const { status, text } = await this.#request("DELETE", path);
    if (status === 404 || status === 202 || status === 200) return;
    this.#fail("DELETE", path, status, text, `deregistering ${id}`);
  }

  /** Every Restate service with its handlers and the deployment new calls for it go to. */
  async services(): Promise<RestateService[]> {
    const { status, text } = await this.#request("GET", "/services");
    if (status !== 200) this.#fail("GET", "/services", status, text, "listing services");
    const raw = JSON.parse(text) as { services: { name: string; deployment_id: string; handlers?: { name: string }[] }[] };
    return raw.services.map((s) => ({ name: s.name, deploymentId: s.deployment_id, handlers: (s.handlers ?? []).map((h) => h.name) }));
  }

  /** Pauses an invocation (it stops at its next suspension point); unknown ids count as done. */
  async pauseInvocation(id: string): Promise<void> {
    const path = `/invocations/${encodeURIComponent(id)}/pause`;
    const { status, text } = await this.#request("PATCH", path);
    if (status >= 300 && status !== 404 && status !== 409) this.#fail("PATCH", path, status, text, `pausing ${id}`);
  }

  /** Resumes an invocation, optionally moving it to another deployment ("latest" or an id). */
  async resumeInvocation(id: string, deployment?: string): Promise<void> {
    const path = `/invocations/${encodeURIComponent(id)}/resume${deployment ? `?deployment=${encodeURIComponent(deployment)}` : ""}`;
    const { status, text } = await this.#request("PATCH", path);
    if (status === 404) throw new GridironError("INVOCATION_NOT_FOUND", `resuming ${id}: Restate knows no such invocation`, { id });
    if (status >= 300) this.#fail("PATCH", path, status, text, `resuming ${id}`);
  }

  /**
   * Ends an invocation now, wherever it is (a backing-off one too, which a cancel does not reach
   * while its handler keeps failing). One that has already completed is reported, not an error.
   */
  async killInvocation(id: string): Promise<"killed" | "already-completed"> {
    const path = `/invocations/${encodeURIComponent(id)}/kill`;
    const { status, text } = await this.#request("PATCH", path);
    if (status === 404) throw new GridironError("INVOCATION_NOT_FOUND", `killing ${id}: Restate knows no such invocation`, { id });
    if (status === 409) return "already-completed";
    if (status >= 300) this.#fail("PATCH", path, status, text, `killing ${id}`);
    return "killed";
  }

  /** Runs SQL on Restate's introspection tables. */
  async query<Row = Record<string, unknown>>(sql: string): Promise<Row[]> {
    const { status, text } = await this.#request("POST", "/query", { query: sql });
    if (status !== 200) this.#fail("POST", "/query", status, text, "query");
    return (JSON.parse(text) as { rows: Row[] }).rows;
  }
}
