import { createServer, type Server } from "node:net";

function listenOnFreePort(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        server.close();
        reject(new Error("could not read the bound port"));
        return;
      }
      resolve({ server, port: address.port });
    });
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
}

/** Returns a TCP port that was free on 127.0.0.1 a moment ago (bind to :0, read the port, close). */
export async function freePort(): Promise<number> {
  const { server, port } = await listenOnFreePort();
  await close(server);
  return port;
}

/** Returns `count` distinct free ports on 127.0.0.1 (all held open together while probing). */
export async function freePorts(count: number): Promise<number[]> {
  const held: { server: Server; port: number }[] = [];
  try {
    for (let i = 0; i < count; i++) held.push(await listenOnFreePort());
    return held.map((h) => h.port);
  } finally {
    await Promise.all(held.map((h) => close(h.server)));
  }
}

function listenOn(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once("error", () => resolve(undefined));
    server.listen({ host: "127.0.0.1", port, exclusive: true }, () => resolve(server));
  });
}

/**
 * Returns the first of `count` consecutive ports that were all free on 127.0.0.1 a moment ago:
 * workerd's cells listen on a base port and the ports after it.
 */
export async function freePortBlock(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const { server, port } = await listenOnFreePort();
    const held: Server[] = [server];
    let ok = port + count - 1 <= 65535;
    for (let i = 1; ok && i < count; i++) {
      const s = await listenOn(port + i);
      if (s) held.push(s);
      else ok = false;
    }
    await Promise.all(held.map(close));
    if (ok) return port;
  }
  throw new Error(`no block of ${count} consecutive free ports found`);
}
