/**
 * The density section's alternative to Gridiron: one Restate Node SDK process per version, as a
 * user without an isolate mesh would run them. Serves one greeter under the Restate service name
 * given as the second argument (the same handler as services/greeter), HTTP/1.1 request-response.
 *
 * Plain JavaScript, run by plain `node`, as a user would deploy it: a TypeScript loader in the
 * process would add its own memory to every version's figure.
 *
 *   node scripts/bench/density-node.mjs <port> <RestateServiceName>
 */

// The SDK uses Promise.withResolvers (Node 22); this repo targets Node 20 (as node-peer.ts).
if (typeof Promise.withResolvers !== "function") {
  Object.defineProperty(Promise, "withResolvers", {
    configurable: true,
    writable: true,
    value() {
      let resolve;
      let reject;
      const promise = new Promise((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    },
  });
}

const restate = await import("@restatedev/restate-sdk");
const { createServer } = await import("node:http");

const name = process.argv[3] ?? "DensityNode";
const greeter = restate.service({
  name,
  handlers: {
    greet: async (_ctx, input) =>
      `Hello, ${typeof input === "string" && input !== "" ? input : "World"}! Greetings from Gridiron (node).`,
  },
});

const server = createServer(restate.createEndpointHandler({ services: [greeter] }));
server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  console.log(`density node ${name} listening on 127.0.0.1:${server.address().port}`);
});
process.on("SIGTERM", () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
