/**
 * Greeter: a stateless Restate service served from workerd.
 *
 *   curl -X POST localhost:8080/Greeter/greet                                   → "Hello, World! …"
 *   curl -X POST localhost:8080/Greeter/greet -H 'content-type: application/json' -d '"Ana"'
 *   curl -X POST localhost:8080/Greeter/greetLater -H 'content-type: application/json' -d '{"name":"Ana","ms":5000}'
 *
 * greetLater sleeps durably (ctx.sleep) before answering: the invocation suspends, stays pinned to
 * the version it started on, and finishes there even after a newer version has been deployed.
 *
 * The greeting word comes from the worker's `GREETING` env binding (default "Hello").
 */
import * as restate from "@restatedev/restate-sdk-cloudflare-workers/fetch";

/** The worker bindings this service reads; all optional. */
interface Env {
  GREETING?: string;
}

/** Accepts no body, a JSON string (`"Ana"`) or an object (`{"name": "Ana"}`). */
function nameFrom(input: unknown): string {
  if (typeof input === "string" && input.trim() !== "") return input.trim();
  if (input !== null && typeof input === "object" && !Array.isArray(input)) {
    const name = (input as { name?: unknown }).name;
    if (typeof name === "string" && name.trim() !== "") return name.trim();
    if (name === undefined) return "World";
  }
  if (input === undefined || input === null || input === "") return "World";
  throw new restate.TerminalError(`greet expects a JSON string or {"name": string}, got ${JSON.stringify(input)}`, {
    errorCode: 400,
  });
}

/** In workerd the SDK passes the fetch handler's extra arguments (env, ctx) through to the handler. */
function greetingFrom(ctx: restate.Context): string {
  const env = ctx.request().extraArgs[0] as Env | undefined;
  const greeting = env?.GREETING;
  return typeof greeting === "string" && greeting !== "" ? greeting : "Hello";
}

export const greeter = restate.service({
  name: "Greeter",
  handlers: {
    greet: async (ctx: restate.Context, input?: unknown): Promise<string> => {
      return `${greetingFrom(ctx)}, ${nameFrom(input)}! Greetings from Gridiron (workerd).`;
    },
    greetLater: async (ctx: restate.Context, input?: unknown): Promise<string> => {
      const ms = input !== null && typeof input === "object" && "ms" in input ? Number((input as { ms?: unknown }).ms) : 3000;
      if (!Number.isFinite(ms) || ms < 0 || ms > 3_600_000) {
        throw new restate.TerminalError(`greetLater expects {"ms": 0..3600000}, got ${JSON.stringify(input)}`, { errorCode: 400 });
      }
      const name = nameFrom(input);
      await ctx.sleep(ms);
      return `${greetingFrom(ctx)}, ${name}! Greetings from Gridiron (workerd), after ${ms} ms.`;
    },
  },
});

export default {
  fetch: restate.createEndpointHandler({ services: [greeter] }),
};
