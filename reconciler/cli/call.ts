// `gridiron call`: POST through Restate's ingress and print the answer. While it waits, it watches
// its own invocation in Restate's admin API (found by an idempotency key the call carries, or by
// the workflow key), and says on stderr why the answer is late when the handler keeps failing.
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { callableUrl } from "../core/address.ts";
import { RestateAdmin } from "../restate/admin.ts";
import { queryInvocation, type InvocationMatch } from "../restate/trouble.ts";
import { MeshDownError, UsageError } from "./errors.ts";
import { callNotice, progressText } from "./invocations-output.ts";
import { print } from "./output.ts";
import type { Options } from "../node/options.ts";

/** How long an answer may take before `gridiron call` looks for a reason, and how often it looks again. */
const NOTICE_AFTER_MS = 3000;
const POLL_MS = 2000;

type Values = Record<string, string | boolean | undefined>;

function ingressUrl(o: Readonly<Options>): string {
  if (process.env.GRIDIRON_INGRESS_URL) return process.env.GRIDIRON_INGRESS_URL.replace(/\/+$/, "");
  return callableUrl(o.host, o.ingressPort);
}

const adminUrl = (o: Readonly<Options>) => callableUrl(o.host, o.adminPort);

/** Restate's type of a service (Service, VirtualObject, Workflow), or undefined if the admin API does not say. */
async function restateServiceType(o: Readonly<Options>, name: string): Promise<string | undefined> {
  try {
    const res = await fetch(`${adminUrl(o)}/services/${encodeURIComponent(name)}`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) return undefined;
    const body = (await res.json()) as { ty?: unknown };
    return typeof body.ty === "string" ? body.ty : undefined;
  } catch {
    return undefined;
  }
}

function parseJsonArg(text: string): string {
  try {
    JSON.parse(text);
    return text;
  } catch {
    throw new UsageError(`the body must be JSON, got ${JSON.stringify(text)} (a string needs its quotes: '"${text}"'; other content: --content-type <type>)`);
  }
}

/** Restate's `message` from an error body, else the body. */
function restateMessage(text: string): string {
  try {
    const m = (JSON.parse(text) as { message?: unknown }).message;
    return typeof m === "string" ? m : text.trim();
  } catch {
    return text.trim();
  }
}

/** What to say when Restate refuses a call to an object or workflow that names no key. */
export function missingKeyText(service: string, handler: string, ty: string): string {
  const what = ty === "Workflow" ? "a workflow" : "a virtual object";
  return `${service} is ${what}: every call names the key of the ${ty === "Workflow" ? "workflow run" : "object"} it is for, e.g.\n` +
    `  gridiron call ${service}/${handler} <key> [<json>]\n  gridiron call ${service}/<key>/${handler} [<json>]`;
}

/** What to say when Restate refuses the body's content type (it names the one the handler takes). */
export function contentTypeText(service: string, handler: string, restateMsg: string): string | undefined {
  const m = /Content-type '([^']*)' does not match '([^']*)'/i.exec(restateMsg);
  if (!m) return undefined;
  const [, sent, wanted] = m as unknown as [string, string, string];
  if (/json/i.test(wanted)) {
    return `${service}/${handler} takes a JSON body (${wanted}), and the call sent ${sent || "none"}: pass the JSON as the last argument (a string needs its quotes: '"Ana"'), or use --string <text>`;
  }
  return `${service}/${handler} takes ${wanted}, and the call sent ${sent || "no content type"}: send the body as it is with --content-type ${wanted}, e.g.\n` +
    `  gridiron call ${service}/${handler} --content-type ${wanted} '<body>'`;
}

interface Target {
  service: string;
  handler: string;
  key?: string;
  body?: string;
  contentType?: string;
}

async function parseTarget(o: Readonly<Options>, v: Values, args: string[], typeOf: () => Promise<string | undefined>): Promise<Target> {
  const [target, ...rest] = args;
  const parts = target?.split("/") ?? [];
  // In <Object>/<key>/<handler> the key is everything between the first and the last slash.
  const middle = parts.slice(1, -1).join("/");
  if (!target || parts.length < 2 || parts[0] === "" || parts.at(-1) === "" || (parts.length > 2 && middle === "")) {
    throw new UsageError("name the handler as <Service>/<handler> or <Object>/<key>/<handler>, e.g. gridiron call Greeter/greet");
  }
  const service = parts[0]!;
  const handler = parts[parts.length - 1]!;
  let key = parts.length > 2 ? middle : undefined;
  let body: string | undefined;
  const raw = typeof v["content-type"] === "string" ? v["content-type"] : undefined;
  if (raw !== undefined && typeof v.string === "string") throw new UsageError("--string sends JSON: use it or --content-type, not both");
  // --string <text>: the body is that text as a JSON string, so no shell quoting of JSON is needed.
  const stringBody = typeof v.string === "string" ? JSON.stringify(v.string) : undefined;
  if (parts.length > 2) {
    if (rest.length > (stringBody === undefined ? 1 : 0)) throw new UsageError(`too many arguments: ${target} takes at most a JSON body (or --string)`);
    body = rest[0];
  } else if (stringBody !== undefined) {
    if (rest.length > 1) throw new UsageError("too many arguments: gridiron call <Service>/<handler> [<key>] --string <text>");
    key = rest[0];
  } else if (rest.length === 2) {
    [key, body] = rest;
  } else if (rest.length === 1) {
    // One argument: a key for a virtual object or workflow, a body for a plain service.
    const ty = await typeOf();
    if (ty === "VirtualObject" || ty === "Workflow") key = rest[0];
    else if (ty !== undefined || raw !== undefined) body = rest[0];
    else {
      try {
        JSON.parse(rest[0]!);
        body = rest[0];
      } catch {
        key = rest[0];
      }
    }
  } else if (rest.length > 2) {
    throw new UsageError("too many arguments: gridiron call <Service>/<handler> [<key>] [<json>]");
  }
  if (body !== undefined && raw === undefined) parseJsonArg(body);
  body ??= stringBody;
  return { service, handler, key, body, contentType: body === undefined ? undefined : raw ?? "application/json" };
}

/**
 * Reports the invocation's trouble on stderr while the call waits: once when the answer is late
 * and the handler has failed, then on each new attempt or a pause. Quiet for a slow healthy call.
 */
async function watch(admin: RestateAdmin, found: { match?: InvocationMatch }, signal: AbortSignal): Promise<void> {
  let shown = "";
  let unreachable = false;
  try {
    await sleep(NOTICE_AFTER_MS, undefined, { signal });
    for (;;) {
      try {
        const t = found.match ? (await queryInvocation(admin, found.match))?.trouble : undefined;
        if (t && t.state !== "blocking") {
          const mark = `${t.state}:${t.attempts}`;
          if (mark !== shown) {
            if (!signal.aborted) console.error(callNotice(t, Date.now(), shown === "" || t.state === "paused"));
            shown = mark;
          }
        }
      } catch (err) {
        if (!unreachable && !signal.aborted) console.error(`gridiron call: still waiting; cannot ask Restate's admin API at ${admin.baseUrl} why (${(err as Error).message})`);
        unreachable = true;
      }
      await sleep(POLL_MS, undefined, { signal });
    }
  } catch {
    /* aborted: the answer came, or the call gave up */
  }
}

export async function call(o: Readonly<Options>, v: Values, args: string[]): Promise<number> {
  let ty: Promise<string | undefined> | undefined;
  const typeOf = () => (ty ??= restateServiceType(o, args[0]?.split("/")[0] ?? ""));
  const { service, handler, key, body, contentType } = await parseTarget(o, v, args, typeOf);
  const timeoutS = v.timeout === undefined ? undefined : Number(v.timeout);
  if (timeoutS !== undefined && !(Number.isFinite(timeoutS) && timeoutS > 0)) throw new UsageError(`--timeout: expected seconds (a number above 0), got ${JSON.stringify(v.timeout)}`);

  const base = ingressUrl(o);
  const url = `${base}/${[service, key, handler].filter((p) => p !== undefined).map((p) => encodeURIComponent(p!)).join("/")}${v.send ? "/send" : ""}`;
  const headers: Record<string, string> = {};
  if (contentType !== undefined) headers["content-type"] = contentType;
  const userKey = typeof v["idempotency-key"] === "string" ? v["idempotency-key"] : undefined;
  // How to find this call's invocation later: by an idempotency key, the user's or one of our own
  // (no one else has it, so it changes nothing else). Restate refuses a key on a workflow's
  // handlers; there the workflow key is enough, and the call is sent again without one.
  const found: { match?: InvocationMatch } = {};
  if (userKey !== undefined) {
    headers["idempotency-key"] = userKey;
    found.match = { service, handler, key, idempotencyKey: userKey };
  } else if (!v.send) {
    const generated = `gridiron-call-${randomUUID()}`;
    headers["idempotency-key"] = generated;
    found.match = { service, handler, key, idempotencyKey: generated };
  }

  const ctl = new AbortController();
  const admin = new RestateAdmin(adminUrl(o), { timeoutMs: 3000 });
  const watching = found.match && !v.send ? watch(admin, found, ctl.signal) : undefined;
  let timedOut = false;
  const timer = timeoutS === undefined ? undefined : setTimeout(() => {
    timedOut = true;
    ctl.abort();
  }, timeoutS * 1000);
  const post = async () => {
    const r = await fetch(url, { method: "POST", headers, body, signal: ctl.signal });
    return { res: r, text: await r.text() };
  };
  let res: Response;
  let text: string;
  try {
    ({ res, text } = await post());
    if (res.status === 400 && userKey === undefined && key !== undefined && /idempotency key with workflow/i.test(restateMessage(text))) {
      delete headers["idempotency-key"];
      found.match = { service, handler, key, workflow: true };
      ({ res, text } = await post());
    }
  } catch (err) {
    if (timedOut) return await gaveUp(admin, found.match, timeoutS!, service, handler);
    throw new MeshDownError(`no Restate ingress answers at ${base} (${(err as Error).cause ?? (err as Error).message}). Start the mesh with 'npm start' or 'gridiron up', or set --ingress-port / GRIDIRON_INGRESS_URL.`);
  } finally {
    clearTimeout(timer);
    ctl.abort();
    await watching;
    admin.close();
  }

  if (res.status === 400) {
    const msg = restateMessage(text);
    if (/bad path/i.test(msg) && key === undefined) {
      const t = await typeOf();
      if (t === "VirtualObject" || t === "Workflow") throw new UsageError(missingKeyText(service, handler, t));
    }
    const hint = contentTypeText(service, handler, msg);
    if (hint) throw new UsageError(hint);
  }
  let parsed: unknown = text;
  try {
    parsed = text === "" ? null : JSON.parse(text);
  } catch {
    /* not JSON: keep the text */
  }
  if (v.json) print({ status: res.status, ok: res.ok, url, body: parsed, ...(res.headers.get("x-restate-id") ? { invocationId: res.headers.get("x-restate-id") } : {}) });
  else if (res.ok) console.log(text);
  else {
    const hint = res.status === 404 ? ` Is a bundle providing ${service} serving? Check 'gridiron status'.` : "";
    console.error(`gridiron call: POST ${url} answered ${res.status}: ${text.trim()}${hint}`);
  }
  return res.ok ? 0 : 1;
}

/** --timeout ran out: say what the invocation is doing (it goes on), exit code 1. */
async function gaveUp(admin: RestateAdmin, match: InvocationMatch | undefined, seconds: number, service: string, handler: string): Promise<number> {
  const found = match ? await queryInvocation(admin, match).catch(() => undefined) : undefined;
  const head = `gridiron call: no answer from ${service}/${handler} after ${seconds} s; stopped waiting`;
  if (!found) console.error(`${head}. If Restate accepted the call, the invocation goes on: see 'gridiron invocations'.`);
  else if (found.trouble && found.trouble.state !== "blocking") {
    const t = found.trouble;
    console.error(`${head}. Invocation ${t.id} goes on: ${progressText(t, Date.now())}${t.lastError ? `; last error: ${t.lastError.message}` : ""}.\n` +
      `  End it with 'gridiron kill ${t.id}'${t.state === "paused" ? `, or resume it with 'gridiron resume ${t.id}'` : ""}; see 'gridiron invocations'.`);
  } else {
    console.error(`${head}. Invocation ${found.id} goes on (${found.status}); end it with 'gridiron kill ${found.id}' if it should not.`);
  }
  return 1;
}
