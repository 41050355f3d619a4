// `gridiron suspend [<service>]` and `gridiron resume [<service>]`: stop and restart Gridiron's
// changes to a service, or to the whole mesh, as `flux suspend|resume` do. The reconciler decides
// and records; this file maps arguments to one API call and prints the answer.
import { hostname, userInfo } from "node:os";
import type { Options } from "../node/options.ts";
import type { ReconcileResult } from "../reconcile/status.ts";
import type { Suspension } from "../store/suspensions.ts";
import { UsageError } from "./errors.ts";
import { print, printResult } from "./output.ts";

/** main.ts's API client, passed in (this module must not import main.ts back). */
export type CallApi = <T>(o: Readonly<Options>, method: string, path: string, body?: unknown) => Promise<{ status: number; body: T }>;

type Flags = Record<string, string | boolean | undefined>;
type Failure = { error?: { message: string; hint?: string } };

/** Who asks, for status: the CLI's user and machine, as a hint to colleagues (not authentication). */
function whoAsks(): string | undefined {
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return undefined;
  }
}

function oneService(args: string[], command: string): string | undefined {
  const [service, extra] = args;
  if (extra !== undefined) throw new UsageError(`name at most one service (none: the whole mesh), e.g. gridiron ${command} greeter`);
  return service;
}

function failed(command: string, body: Failure): boolean {
  if (!body.error) return false;
  console.error(`gridiron ${command}: ${body.error.message}${body.error.hint ? `\n  hint: ${body.error.hint}` : ""}`);
  return true;
}

const what = (scope: string) => (scope === "*" ? "the mesh" : scope);

export async function suspend(api: CallApi, o: Readonly<Options>, v: Flags, args: string[]): Promise<number> {
  const service = oneService(args, "suspend");
  const reason = typeof v.reason === "string" ? v.reason : undefined;
  const { status, body } = await api<{ scope: string; suspension: Suspension; already: boolean } & Failure>(o, "POST", "/suspend", { service, reason, by: whoAsks() });
  if (v.json) print(body);
  else if (!failed("suspend", body)) {
    const s = body.suspension;
    console.log(`${body.already ? `${what(body.scope)} was already suspended` : `suspended ${what(body.scope)}`} since ${s.since}${s.by ? ` by ${s.by}` : ""}${s.reason ? `: ${s.reason}` : ""}`);
    console.log(body.scope === "*" ? "  passes observe and change nothing until 'gridiron resume'" : `  what it serves stays as it is until 'gridiron resume ${body.scope}'`);
  }
  return status === 200 ? 0 : 1;
}

/** `gridiron resume [<service>]` (reconciliation); main.ts sends an invocation id elsewhere. */
export async function resume(api: CallApi, o: Readonly<Options>, v: Flags, args: string[]): Promise<number> {
  const service = oneService(args, "resume");
  if (v.deployment !== undefined) throw new UsageError("--deployment goes with an invocation id: gridiron resume inv_… --deployment latest");
  const { status, body } = await api<{ scope: string; was: Suspension; pass: ReconcileResult } & Failure>(o, "POST", "/resume", { service });
  if (v.json) print(body);
  else if (!failed("resume", body)) {
    console.log(`resumed ${what(body.scope)} (suspended since ${body.was.since}${body.was.by ? ` by ${body.was.by}` : ""})`);
    printResult(body.pass);
  }
  return status === 200 ? 0 : 1;
}
