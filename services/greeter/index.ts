/**
 * Greeter: a stateless Restate service served from workerd.
 *
 *   curl -X POST localhost:8080/Greeter/greet                                   → "Hello, World! …"
 *   curl -X POST localhost:8080/Greeter/greet -H 'content-type: application/json' -d '"Ana"'
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
  if (input !== null && typeof input === "object" && "name" in input) {
    const name = (input as { name?: unknown }).name;
    if (typeof name === "string" && name.trim() !== "") return name.trim();
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
  },
});

export default {
  fetch: restate.createEndpointHandler({ services: [greeter] }),
};
