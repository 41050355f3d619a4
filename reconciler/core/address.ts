// The one rule for calling a server of this machine by the address it was told to bind. A server
// bound to every address (0.0.0.0, or :: for IPv6) is called through loopback: the wildcard names
// no interface to connect to. The justfile and container/runit/gridiron/check cannot import this;
// they go through the gridiron CLI or name this file beside their own copy of the rule.

/** The host a client on this machine connects to for a server bound to `host`. */
export function callableHost(host: string): string {
  if (host === "0.0.0.0") return "127.0.0.1";
  if (host === "::" || host === "[::]") return "::1";
  return host;
}

/** `http://<host>:<port>` for a server bound to `host`, an IPv6 literal in brackets. */
export function callableUrl(host: string, port: number | string): string {
  const h = callableHost(host);
  return `http://${h.includes(":") && !h.startsWith("[") ? `[${h}]` : h}:${port}`;
}
