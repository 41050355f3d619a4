/**
 * The benchmark's peer: Greeter and Counter with the same handler code as services/greeter and
 * services/counter, served by Restate's Node SDK (`@restatedev/restate-sdk`) over HTTP/1.1 in
 * request-response mode — what a user would run instead of Gridiron — or, with BENCH_PEER_SERVE=1,
 * as the SDK's own `restate.serve()` serves them (HTTP/2, bidirectional streams; its quickstart's
 * default). Registered under other names (NodeGreeter, NodeCounter) so it shares one
 * restate-server with the mesh without colliding.
 *
 *   [BENCH_IDENTITY_KEY=publickeyv1_…] [BENCH_PEER_SERVE=1] node --import tsx scripts/bench/node-peer.ts <port>
 *
 * Runs as its own process (one JS thread, like workerd) so the load generator in the bench
 * process does not share its event loop. SIGTERM closes it.
 */
import type { AddressInfo } from "node:net";
// Type-only: erased at run time, so it does not load the SDK before the polyfill.
import type * as Restate from "@restatedev/restate-sdk";

// The SDK uses Promise.withResolvers (Node 22); this repo targets Node 20. Polyfill before the
// SDK module is evaluated, hence the dynamic import below.
if (typeof (Promise as { withResolvers?: unknown }).withResolvers !== "function") {
  Object.defineProperty(Promise, "withResolvers", {
    configurable: true,
    writable: true,
    value<T>() {
      let resolve!: (value: T | PromiseLike<T>) => void;
      let reject!: (reason?: unknown) => void;
      const promise = new Promise<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    },
  });
}

const restate = await import("@restatedev/restate-sdk");
const { createServer } = await import("node:http");
const { createServer: createHttp2Server } = await import("node:http2");

/** Same as services/greeter: no body, a JSON string or {"name": string}. */
function nameFrom(input: unknown): string {
  if (typeof input === "string" && input.trim() !== "") return input.trim();
  if (input !== null && typeof input === "object" && "name" in input) {
    const name = (input as { name?: unknown }).name;
    if (typeof name === "string" && name.trim() !== "") return name.trim();
  }
  if (input === undefined || input === null || input === "") return "World";
  throw new restate.TerminalError(`greet expects a JSON string or {"name": string}, got ${JSON.stringify(input)}`, { errorCode: 400 });
}

/** Same as services/counter: no body adds 1, else an integer or numeric string. */
function amountFrom(input: unknown): number {
  if (input === undefined || input === null || input === "") return 1;
  const n = typeof input === "string" ? Number(input) : input;
  if (typeof n === "number" && Number.isSafeInteger(n)) return n;
  throw new restate.TerminalError(`add expects an integer, got ${JSON.stringify(input)}`, { errorCode: 400 });
}

const greeter = restate.service({
  name: "NodeGreeter",
  handlers: {
    greet: async (_ctx: Restate.Context, input?: unknown): Promise<string> => `Hello, ${nameFrom(input)}! Greetings from Gridiron (node).`,
  },
});

const counter = restate.object({
  name: "NodeCounter",
  handlers: {
    add: async (ctx: Restate.ObjectContext, input?: unknown): Promise<number> => {
      const next = ((await ctx.get<number>("count")) ?? 0) + amountFrom(input);
      ctx.set("count", next);
      return next;
    },
    get: restate.handlers.object.shared(async (ctx: Restate.ObjectSharedContext): Promise<number> => (await ctx.get<number>("count")) ?? 0),
  },
});

// HTTP/1.1 requests are served in REQUEST_RESPONSE mode, as workerd serves them. With
// BENCH_IDENTITY_KEY (the mesh's publickeyv1_… key) the SDK verifies Restate's request signature
// on every request, as Gridiron's router does. With BENCH_PEER_SERVE=1 the peer is what the SDK's
// quickstart `restate.serve()` runs: an HTTP/2 server without TLS, on which the handler serves in
// BIDI_STREAM mode (bound to loopback here; serve() binds every interface).
const identityKey = process.env.BENCH_IDENTITY_KEY;
const options = { services: [greeter, counter], ...(identityKey ? { identityKeys: [identityKey] } : {}) };
const port = Number(process.argv[2] ?? 9080);
if (process.env.BENCH_PEER_SERVE === "1") {
  const server = createHttp2Server(restate.createEndpointHandler(options));
  server.listen(port, "127.0.0.1", () => {
    console.log(`node peer listening on 127.0.0.1:${(server.address() as AddressInfo).port} (HTTP/2)`);
  });
  process.on("SIGTERM", () => process.exit(0));
} else {
  const server = createServer(restate.createEndpointHandler(options));
  server.listen(port, "127.0.0.1", () => {
    console.log(`node peer listening on 127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  process.on("SIGTERM", () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
