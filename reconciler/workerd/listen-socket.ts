// Launcher side of the socket handover: bind the public listening socket once, so its fd can be
// given to the daemon as stdio[3] and inherited by every workerd generation (`--socket-fd http=3`).
// The launcher must close() its own server after spawning the daemon: a Node server that stays
// listening on the fd accepts connections itself and steals them from workerd.
import net from "node:net";

/**
 * Node exposes no public way to get a listening socket's fd. `server._handle` is the libuv TCP
 * handle (a `TCPWrap`) and its `fd` getter returns the OS descriptor on Unix (-1 on Windows). We
 * read only that one field, typed narrowly here so the internal never leaks further.
 */
interface ServerWithHandle {
  _handle?: { fd?: unknown } | null;
}

export interface ListeningSocket {
  /** The OS file descriptor of the listening socket; pass it in `spawn`'s stdio array. */
  fd: number;
  /** The port actually bound (useful with port 0). */
  port: number;
  /** Closes this process's server (and its fd). Safe to call twice. */
  close(): Promise<void>;
}

export async function bindListeningSocket(host: string, port: number): Promise<ListeningSocket> {
  const server = net.createServer();
  // Connections must never be handled here; if one slips in before close(), drop it.
  server.on("connection", (conn) => conn.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port, exclusive: true }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const fd = (server as unknown as ServerWithHandle)._handle?.fd;
  if (typeof fd !== "number" || fd < 0 || address === null || typeof address === "string") {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    throw new Error(`bindListeningSocket: no usable fd for ${host}:${port} (platform ${process.platform})`);
  }
  let closing: Promise<void> | undefined;
  return {
    fd,
    port: address.port,
    close() {
      closing ??= new Promise<void>((resolve) => server.close(() => resolve()));
      return closing;
    },
  };
}
