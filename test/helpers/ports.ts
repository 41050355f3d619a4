// Free loopback ports for the servers tests start. A port found free is closed again before the
// server binds it, so anything that binds in between takes it: the kernel hands out ephemeral
// ports to every listen(0) and every outgoing connection on the machine, including the other
// test worker's. So ports come from below the ephemeral range, where only explicit binds land,
// and each vitest worker takes its own slice of that range; every candidate is still probed.
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";

/** Slices: one per vitest worker (VITEST_POOL_ID), slice 0 for scripts run outside vitest. */
const SLICES = 9;
const SLICE_SIZE = 1_400;

function ephemeralLow(): number {
  try {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 0) return low;
  } catch {
    // Not Linux: assume the IANA dynamic range.
  }
  return 49_152;
}

const slice = (() => {
  const top = ephemeralLow();
  const base = top - SLICES * SLICE_SIZE;
  if (base < 1_024) return undefined; // an unusual kernel setting: fall back to listen(0)
  const index = Number(process.env.VITEST_POOL_ID ?? 0) % SLICES;
  return { start: base + index * SLICE_SIZE, size: SLICE_SIZE };
})();

// A random start, so a test file does not reuse the ports the previous file in this worker just let go.
let cursor = slice ? Math.floor(Math.random() * slice.size) : 0;

function listenOn(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once("error", () => resolve(undefined));
    server.listen({ host: "127.0.0.1", port, exclusive: true }, () => resolve(server));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
}

async function ephemeralPort(): Promise<number> {
  const server = await listenOn(0);
  const address = server?.address();
  if (!server || address === null || typeof address !== "object") throw new Error("could not bind a free port on 127.0.0.1");
  await close(server);
  return address.port;
}

/** Returns the first of `count` consecutive ports of this worker's slice that were all free a moment ago. */
async function takeBlock(count: number): Promise<number> {
  if (!slice) {
    if (count === 1) return ephemeralPort();
    throw new Error("no port range below the ephemeral ports to take consecutive ports from");
  }
  for (let tried = 0; tried < slice.size; tried++) {
    if (cursor + count > slice.size) cursor = 0;
    const first = slice.start + cursor;
    cursor += count;
    const held: Server[] = [];
    for (let i = 0; i < count; i++) {
      const s = await listenOn(first + i);
      if (!s) break;
      held.push(s);
    }
    await Promise.all(held.map(close));
    if (held.length === count) return first;
  }
  throw new Error(`no ${count} consecutive free ports in ${slice.start}..${slice.start + slice.size - 1}`);
}

/** Returns a TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return takeBlock(1);
}

/** Returns `count` distinct ports that were free on 127.0.0.1 a moment ago. */
export async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < count; i++) ports.push(await takeBlock(1));
  return ports;
}

/**
 * Returns the first of `count` consecutive ports that were all free on 127.0.0.1 a moment ago:
 * workerd's cells listen on a base port and the ports after it.
 */
export function freePortBlock(count: number): Promise<number> {
  return takeBlock(count);
}
