// The local cluster's stand-in for a Kubernetes Service: one TCP address in front of every node's
// workerd cell. Each connection goes to the next node in turn; a node that refuses the connection
// is skipped, so a node that is down costs no call. Restate registers one URI per deployment, so
// every node must sit behind this one address.
import net from "node:net";

export interface Forwarder {
  /** Ports it listens on (one per cell). */
  ports: number[];
  close(): Promise<void>;
}

/**
 * Listens on `host:listenPorts[i]` and forwards to `backendPorts(i)` on `backendHost`, round robin.
 * `backendPorts` is asked per connection, so nodes can come and go.
 */
export async function startForwarder(o: {
  host?: string;
  listenPorts: readonly number[];
  backendHost?: string;
  backendPorts: (cell: number) => readonly number[];
}): Promise<Forwarder> {
  const host = o.host ?? "127.0.0.1";
  const backendHost = o.backendHost ?? "127.0.0.1";
  const servers: net.Server[] = [];
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  };
  let turn = 0;
  for (const [cell, port] of o.listenPorts.entries()) {
    const server = net.createServer((client) => {
      track(client);
      client.pause();
      const backends = o.backendPorts(cell);
      const start = turn++;
      const attempt = (n: number) => {
        if (n >= backends.length) {
          client.destroy();
          return;
        }
        const upstream = net.connect({ host: backendHost, port: backends[(start + n) % backends.length]! });
        track(upstream);
        upstream.once("error", () => {
          // Refused before anything was sent: try the next node.
          if (!upstream.bytesWritten) attempt(n + 1);
          else client.destroy();
        });
        upstream.once("connect", () => {
          upstream.removeAllListeners("error");
          upstream.on("error", () => client.destroy());
          client.on("error", () => upstream.destroy());
          client.pipe(upstream);
          upstream.pipe(client);
          client.resume();
        });
      };
      attempt(0);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host, port }, () => resolve());
    });
    servers.push(server);
  }
  return {
    ports: servers.map((s) => (s.address() as net.AddressInfo).port),
    async close() {
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}
