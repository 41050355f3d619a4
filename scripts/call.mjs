#!/usr/bin/env node
// Calls a handler through Restate's ingress and prints the response body: a curl stand-in for the
// justfile (curl is not on every fresh machine). Plain JavaScript, no dependencies.
//
//   node scripts/call.mjs Greeter/greet                      POST with no body
//   node scripts/call.mjs Greeter/greet --string Ana          body "Ana" (the text, JSON-encoded)
//   node scripts/call.mjs Counter/demo/add --json 5           body 5 (already JSON)
//   node scripts/call.mjs Counter/demo/get --ingress http://127.0.0.1:18080
//
// The ingress URL comes from --ingress, else GRIDIRON_INGRESS_URL, else
// http://<GRIDIRON_HOST or 127.0.0.1>:<GRIDIRON_INGRESS_PORT or 8080>. Exit codes: 0 answered 2xx,
// 1 answered with an error status or nobody answered, 2 bad arguments.

const USAGE = `usage: node scripts/call.mjs <Service>/<handler> | <Object>/<key>/<handler> [--string <text> | --json <json>] [--ingress <url>]`;

function fail(message, code = 2) {
  console.error(message);
  process.exit(code);
}

function defaultIngress() {
  if (process.env.GRIDIRON_INGRESS_URL) return process.env.GRIDIRON_INGRESS_URL;
  let host = process.env.GRIDIRON_HOST || "127.0.0.1";
  // A server bound to every address is reached through loopback.
  if (host === "0.0.0.0") host = "127.0.0.1";
  if (host === "::") host = "::1";
  if (host.includes(":") && !host.startsWith("[")) host = `[${host}]`;
  return `http://${host}:${process.env.GRIDIRON_INGRESS_PORT || "8080"}`;
}

const args = process.argv.slice(2);
let path;
let body;
let ingress;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const value = () => {
    if (i + 1 >= args.length) fail(`${a} needs a value\n${USAGE}`);
    return args[++i];
  };
  if (a === "-h" || a === "--help") {
    console.log(USAGE);
    process.exit(0);
  } else if (a === "--string") body = JSON.stringify(value());
  else if (a === "--json") {
    body = value();
    try {
      JSON.parse(body);
    } catch (err) {
      fail(`--json: not valid JSON (${err.message}): ${body}`);
    }
  } else if (a === "--ingress") ingress = value();
  else if (a.startsWith("-")) fail(`unknown option ${a}\n${USAGE}`);
  else if (path === undefined) path = a;
  else fail(`unexpected argument ${JSON.stringify(a)}\n${USAGE}`);
}
if (!path) fail(USAGE);

const base = (ingress ?? defaultIngress()).replace(/\/+$/, "");
const url = `${base}/${path.replace(/^\/+/, "")}`;
const init = { method: "POST", signal: AbortSignal.timeout(60_000) };
// Restate's ingress answers 400 to a body without this content type.
if (body !== undefined) Object.assign(init, { headers: { "content-type": "application/json" }, body });

let res;
try {
  res = await fetch(url, init);
} catch (err) {
  const cause = err.cause?.code ?? err.cause?.message ?? err.message;
  fail(`no Restate ingress answers at ${base} (${cause}).\nIs the mesh running? Start it with npm start (or set GRIDIRON_INGRESS_PORT to the port it uses).`, 1);
}
const text = await res.text();
if (!res.ok) fail(`POST ${url} answered ${res.status}: ${text.trim()}`, 1);
console.log(text);
