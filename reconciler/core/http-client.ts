// A small keep-alive HTTP client whose connections we can close ourselves. restate-server binds
// its ports without SO_REUSEADDR, so a connection that *it* closes at shutdown leaves a TIME_WAIT
// entry on its port for 60 s and a quick restart fails with "Address in use". Closing our idle
// connections first (close()) puts TIME_WAIT on our ephemeral side instead. fetch() offers no
// handle on its pool, hence node:http.
import { Agent, request } from "node:http";

export interface HttpResponse {
  status: number;
  text: string;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs?: number;
  /** Send to this unix socket instead of the URL's host and port (its path still counts). */
  socketPath?: string;
}

export class HttpClient {
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 32 });

  async request(url: string, opts: RequestOptions = {}): Promise<HttpResponse> {
    try {
      return await this.#once(url, opts);
    } catch (err) {
      // A pooled connection the server closed as idle just as we sent on it: the server never read
      // the request, so it goes again once, on a fresh connection (Node's documented remedy).
      if (!(err as { reusedSocket?: boolean }).reusedSocket || (err as NodeJS.ErrnoException).code !== "ECONNRESET") throw err;
      return this.#once(url, opts);
    }
  }

  #once(url: string, opts: RequestOptions): Promise<HttpResponse> {
    return new Promise((resolve, reject) => {
      const req = request(url, { method: opts.method ?? "GET", headers: opts.headers, agent: this.#agent, timeout: opts.timeoutMs ?? 30_000, socketPath: opts.socketPath }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      });
      req.on("timeout", () => req.destroy(new Error(`timed out after ${opts.timeoutMs ?? 30_000} ms`)));
      let responded = false;
      req.once("response", () => (responded = true));
      req.on("error", (err) => reject(Object.assign(err, { reusedSocket: req.reusedSocket && !responded })));
      req.end(opts.body);
    });
  }

  /** Closes every pooled connection from our side. The client stays usable (new connections). */
  close(): void {
    this.#agent.destroy();
  }
}
