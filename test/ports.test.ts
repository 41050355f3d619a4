// The test port helper: ports come from below the kernel's ephemeral range, so no listen(0) or
// outgoing connection can take one between the probe and the server's bind (a CI run was lost to
// exactly that), and they are distinct within a worker.
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { freePortBlock, freePorts } from "./helpers/ports.ts";

const ephemeralLow = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);

describe("test ports", () => {
  it("hands out distinct ports below the ephemeral range", async () => {
    const ports = await freePorts(50);
    expect(new Set(ports).size).toBe(50);
    for (const p of ports) expect(p).toBeLessThan(ephemeralLow);
  });

  it("a block is consecutive, below the ephemeral range, and skips a port someone holds", async () => {
    const first = await freePortBlock(4);
    expect(first + 3).toBeLessThan(ephemeralLow);
    // Hold the port right after the next candidate block: the helper must not return a block containing it.
    const probe = await freePortBlock(1);
    const held = createServer();
    await new Promise<void>((r) => held.listen({ host: "127.0.0.1", port: probe + 2, exclusive: true }, r));
    try {
      const block = await freePortBlock(4);
      expect(block > probe + 2 || block + 3 < probe + 2).toBe(true);
    } finally {
      await new Promise((r) => held.close(r));
    }
  });
});
