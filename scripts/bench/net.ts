// TCP connections towards a local port, from /proc/net/tcp: how many are open and how many were
// closed recently (TIME_WAIT stays 60 s on the side that closed first). Restate is the client of
// every endpoint, so TIME_WAIT sockets towards or from an endpoint's port are connections that
// were opened, used and closed instead of being kept alive.
import { readFile } from "node:fs/promises";

export interface TcpCount {
  /** Open connections to the port (counted on the client's side). */
  established: number;
  /** Closed recently, the client (Restate) closing first. */
  timeWait: number;
  /** Closed recently, the server (the endpoint) closing first. */
  timeWaitServer: number;
}

export async function tcpTowards(port: number): Promise<TcpCount> {
  const out: TcpCount = { established: 0, timeWait: 0, timeWaitServer: 0 };
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const text = await readFile(file, "utf8").catch(() => "");
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 4) continue;
      // f[1] local address, f[2] remote address ("0100007F:1F90"), f[3] state
      if (f[1]!.endsWith(`:${hexPort}`)) {
        if (f[3] === "06") out.timeWaitServer++;
        continue;
      }
      if (!f[2]!.endsWith(`:${hexPort}`)) continue;
      if (f[3] === "01") out.established++;
      else if (f[3] === "06") out.timeWait++;
    }
  }
  return out;
}
