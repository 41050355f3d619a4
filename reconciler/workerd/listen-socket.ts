// Launcher side of the socket handover: bind the public listening socket once, so its fd can be
// given to the daemon as stdio[3] and inherited by every workerd generation (`--socket-fd http=3`).
// The launcher must close() its own server after spawning the daemon: a Node server that stays
// listening on the fd accepts connections itself and steals them from workerd.
import { spawn } from "node:child_process";
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
  /** Whether TCP_DEFER_ACCEPT is set on the socket (see `bindListeningSocket`). */
  deferAccept: boolean;
  /** Closes this process's server (and its fd). Safe to call twice. */
  close(): Promise<void>;
}

export interface BindOptions {
  /**
   * Set TCP_DEFER_ACCEPT (Linux) with this many seconds, or false to leave it off. Default 5.
   *
   * Why: on SIGTERM workerd closes every connection it has accepted whose first request has not
   * arrived yet, so during a handover a client that had just connected gets EOF without a response
   * ("socket hang up"). With TCP_DEFER_ACCEPT the kernel queues a connection for accept() only
   * once its first bytes are in, so no generation ever holds a connection without a request.
   */
  deferAcceptSeconds?: number | false;
}

export async function bindListeningSocket(host: string, port: number, opts: BindOptions = {}): Promise<ListeningSocket> {
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
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => server.close(() => resolve()));
    return closing;
  };
  const address = server.address();
  const fd = (server as unknown as ServerWithHandle)._handle?.fd;
  if (typeof fd !== "number" || fd < 0 || address === null || typeof address === "string") {
    await close();
    throw new Error(`bindListeningSocket: no usable fd for ${host}:${port} (platform ${process.platform})`);
  }
  const seconds = opts.deferAcceptSeconds ?? 5;
  const deferAccept = seconds !== false && seconds > 0 && (await setTcpDeferAccept(fd, seconds));
  return { fd, port: address.port, deferAccept, close };
}

const IPPROTO_TCP = 6;
const TCP_DEFER_ACCEPT = 9; // linux/tcp.h

/**
 * Sets TCP_DEFER_ACCEPT on `fd`. Node has no setsockopt(), so a one-line perl (essential on
 * Debian-based images) or python3 program does it on the fd inherited as its fd 3; the option
 * belongs to the socket, not the descriptor, so it holds for every process sharing it.
 * Resolves false (nothing changed) off Linux or when neither interpreter is available.
 */
export async function setTcpDeferAccept(fd: number, seconds: number): Promise<boolean> {
  if (process.platform !== "linux") return false;
  const s = Math.max(1, Math.round(seconds));
  const helpers: [string, string[]][] = [
    [
      "perl",
      ["-e", `open(my $s, "+<&=", 3) or die "fd 3: $!"; setsockopt($s, ${IPPROTO_TCP}, ${TCP_DEFER_ACCEPT}, ${s}) or die "setsockopt: $!"; print unpack("i", getsockopt($s, ${IPPROTO_TCP}, ${TCP_DEFER_ACCEPT}));`],
    ],
    [
      "python3",
      ["-c", `import socket; s = socket.socket(fileno=3); s.setsockopt(${IPPROTO_TCP}, ${TCP_DEFER_ACCEPT}, ${s}); print(s.getsockopt(${IPPROTO_TCP}, ${TCP_DEFER_ACCEPT})); s.detach()`],
    ],
  ];
  for (const [cmd, args] of helpers) {
    const out = await runWithFd(cmd, args, fd);
    // The kernel rounds the value up to whole SYN-ACK retransmissions; any positive value is set.
    if (out !== undefined && Number(out.trim()) > 0) return true;
  }
  return false;
}

function runWithFd(cmd: string, args: string[], fd: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    let stdout = "";
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "ignore", fd] });
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.once("error", () => resolve(undefined));
    child.once("close", (code) => resolve(code === 0 ? stdout : undefined));
  });
}
