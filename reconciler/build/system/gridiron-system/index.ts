/**
 * Gridiron's own services in a cluster, served by every node like any bundle, so they answer as
 * long as one node does, and kept in Restate itself.
 *
 * GridironLock: the registrar lock. A virtual object is single-writer per
 * key, so acquire/renew/release on one key are serialized by Restate: no consensus of our own.
 * Time comes from the journal (ctx.date.now()), so a retried attempt decides the same way.
 *
 * GridironPins: the rollback pins every node and the registrar lay over the source (one object,
 * one map: a pass reads them all in one call). GridironSuspensions: the same for suspensions.
 */
import * as restate from "@restatedev/restate-sdk-cloudflare-workers/fetch";

interface Claim {
  holder: string;
  ttlMs: number;
}

interface Lease {
  held: boolean;
  holder: string | null;
  expiresAt: number;
}

export const lock = restate.object({
  name: "GridironLock",
  handlers: {
    /** Takes the lock if it is free, expired or already ours; renews it when ours. */
    acquire: async (ctx: restate.ObjectContext, claim: Claim): Promise<Lease> => {
      if (!claim || typeof claim.holder !== "string" || claim.holder === "" || !(claim.ttlMs > 0)) {
        throw new restate.TerminalError("acquire expects { holder, ttlMs }", { errorCode: 400 });
      }
      const now = await ctx.date.now();
      const holder = await ctx.get<string>("holder");
      const expiresAt = (await ctx.get<number>("expiresAt")) ?? 0;
      if (holder && holder !== claim.holder && expiresAt > now) return { held: false, holder, expiresAt };
      const until = now + claim.ttlMs;
      ctx.set("holder", claim.holder);
      ctx.set("expiresAt", until);
      return { held: true, holder: claim.holder, expiresAt: until };
    },
    /** Gives the lock up if `holder` has it (a registrar that stops hands over at once). */
    release: async (ctx: restate.ObjectContext, claim: Pick<Claim, "holder">): Promise<boolean> => {
      if ((await ctx.get<string>("holder")) !== claim?.holder) return false;
      ctx.clear("holder");
      ctx.clear("expiresAt");
      return true;
    },
    /** Who holds it, without changing anything. */
    holder: restate.handlers.object.shared(async (ctx: restate.ObjectSharedContext): Promise<Lease> => {
      const holder = (await ctx.get<string>("holder")) ?? null;
      const expiresAt = (await ctx.get<number>("expiresAt")) ?? 0;
      return { held: false, holder, expiresAt };
    }),
  },
});

interface Pin {
  version: string;
  sourceVersion: string | null;
  breaking: boolean;
  at: string;
}

export const pins = restate.object({
  name: "GridironPins",
  handlers: {
    all: restate.handlers.object.shared(async (ctx: restate.ObjectSharedContext): Promise<Record<string, Pin>> => (await ctx.get<Record<string, Pin>>("pins")) ?? {}),
    set: async (ctx: restate.ObjectContext, req: { service: string; pin: Pin }): Promise<void> => {
      if (!req || typeof req.service !== "string" || !req.pin) throw new restate.TerminalError("set expects { service, pin }", { errorCode: 400 });
      ctx.set("pins", { ...((await ctx.get<Record<string, Pin>>("pins")) ?? {}), [req.service]: req.pin });
    },
    delete: async (ctx: restate.ObjectContext, req: { service: string }): Promise<void> => {
      const all = { ...((await ctx.get<Record<string, Pin>>("pins")) ?? {}) };
      delete all[req?.service];
      ctx.set("pins", all);
    },
  },
});

interface Suspension {
  since: string;
  by?: string;
  reason?: string;
}

/** `gridiron suspend`: what the registrar and every node hold back, by service ("*": the whole mesh). */
export const suspensions = restate.object({
  name: "GridironSuspensions",
  handlers: {
    all: restate.handlers.object.shared(async (ctx: restate.ObjectSharedContext): Promise<Record<string, Suspension>> => (await ctx.get<Record<string, Suspension>>("all")) ?? {}),
    set: async (ctx: restate.ObjectContext, req: { scope: string; suspension: Suspension }): Promise<void> => {
      if (!req || typeof req.scope !== "string" || typeof req.suspension?.since !== "string") throw new restate.TerminalError("set expects { scope, suspension: { since } }", { errorCode: 400 });
      ctx.set("all", { ...((await ctx.get<Record<string, Suspension>>("all")) ?? {}), [req.scope]: req.suspension });
    },
    delete: async (ctx: restate.ObjectContext, req: { scope: string }): Promise<void> => {
      const all = { ...((await ctx.get<Record<string, Suspension>>("all")) ?? {}) };
      delete all[req?.scope];
      ctx.set("all", all);
    },
  },
});

export default {
  fetch: restate.createEndpointHandler({ services: [lock, pins, suspensions] }),
};
