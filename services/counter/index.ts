/**
 * Counter: a Restate virtual object keyed by name, served from workerd.
 *
 *   curl -X POST localhost:8080/Counter/apples/add                 → 1
 *   curl -X POST localhost:8080/Counter/apples/add -H 'content-type: application/json' -d 5   → 6
 *   curl -X POST localhost:8080/Counter/apples/get                 → 6
 *   curl -X POST localhost:8080/Counter/apples/reset               → 0
 */
import * as restate from "@restatedev/restate-sdk-cloudflare-workers/fetch";

const COUNT = "count";

/** Accepts no body (adds 1), a JSON number (`5`) or a numeric string (`"5"`). */
function amountFrom(input: unknown): number {
  if (input === undefined || input === null || input === "") return 1;
  const n = typeof input === "string" ? Number(input) : input;
  if (typeof n === "number" && Number.isSafeInteger(n)) return n;
  throw new restate.TerminalError(`add expects an integer, got ${JSON.stringify(input)}`, { errorCode: 400 });
}

export const counter = restate.object({
  name: "Counter",
  handlers: {
    add: async (ctx: restate.ObjectContext, input?: unknown): Promise<number> => {
      const next = ((await ctx.get<number>(COUNT)) ?? 0) + amountFrom(input);
      ctx.set(COUNT, next);
      return next;
    },
    get: restate.handlers.object.shared(async (ctx: restate.ObjectSharedContext): Promise<number> => {
      return (await ctx.get<number>(COUNT)) ?? 0;
    }),
    reset: async (ctx: restate.ObjectContext): Promise<number> => {
      ctx.clear(COUNT);
      return 0;
    },
  },
});

export default {
  fetch: restate.createEndpointHandler({ services: [counter] }),
};
