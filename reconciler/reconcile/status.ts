// What `gridiron status`, GET /status and logs report. Written on every exit path of a pass.
import type { Action, Plan } from "./plan.ts";
import type { InvocationInTrouble } from "../restate/trouble.ts";
import type { CellHealth } from "../workerd/watchdog.ts";
import type { PoisonedInvocation } from "./poison.ts";
import type { RolloutCounts } from "../restate/rollout-stats.ts";

export type VersionState =
  /** Registered, and where new calls go. */
  | "serving"
  /** Replaced: still served while invocations need it, then for the grace period. */
  | "draining"
  /** Draining past the deadline: named invocations still need it; nothing is killed. */
  | "stuck"
  /** Deregistered and out of workerd; its directory is kept for rollback. */
  | "stored"
  /** Rejected before it could serve (the reason says why). */
  | "failed"
  /** Registered in Restate but its bytes are missing from the store. */
  | "unservable";

export interface VersionStatus {
  version: string;
  state: VersionState;
  digest?: string;
  /** Source revision the version was registered from (folder path, or branch@sha1:commit). */
  revision?: string;
  deploymentId?: string;
  restateServices?: string[];
  registeredAt?: string;
  storedAt?: string;
  /** Invocations still needing it (draining/stuck), with up to 5 ids named. */
  blocking?: number;
  invocations?: string[];
  /** When a drained version will be removed (ISO time). */
  removeAt?: string;
  reason?: string;
  /**
   * Its invocations that need a human: retrying, paused, or holding up its removal, each with the
   * commands that resolve it. Added by GET /status from a query of its own (api/invocations.ts).
   */
  trouble?: InvocationInTrouble[];
  /**
   * Its invocations that Gridiron paused because they were in flight each time their cell hung,
   * outgrew its memory or crashed (reconcile/poison.ts), each with the commands that end it.
   */
  poisoned?: PoisonedInvocation[];
}

/** Degraded: the serving version took its cell down lately, or has a poisoned invocation; never Ready then. */
export type ConditionType = "Ready" | "Progressing" | "Draining" | "Failed" | "Degraded";

export interface Condition {
  type: ConditionType;
  status: boolean;
  reason: string;
  message: string;
  /** Changes only when `status` flips. */
  since: string;
}

export interface ServiceStatus {
  service: string;
  /** The version new calls reach. */
  serving?: string;
  /** The version the source (or a rollback pin) asks for. */
  desired?: string;
  /** Set when `gridiron rollback` pinned a version that overrides the source. */
  pinned?: string;
  conditions: Condition[];
  versions: VersionStatus[];
  /** Why the service's bundle in the source is not what serves (invalid, failed discovery…). */
  error?: { code: string; message: string; hint?: string; since: string };
  /** Its progressive rollout (gridiron.json "rollout"): weights, per-version counts, the last decision and why. */
  rollout?: RolloutStatus;
  /** Set while `gridiron suspend` (of it, or of the whole mesh) keeps Gridiron from changing it. */
  suspended?: SuspensionStatus;
}

/** A suspension in force: since when, who asked and why (as they said), and what it covers. */
export interface SuspensionStatus {
  since: string;
  by?: string;
  reason?: string;
  scope: "service" | "mesh";
}

export interface ReconcileResult {
  id: number;
  trigger: string;
  startedAt: string;
  durationMs: number;
  outcome: "ok" | "noop" | "partial" | "error";
  revision?: string;
  actions: Action[];
  /** Versions that became the ones new calls reach in this pass. */
  deployed: { service: string; version: string }[];
  /** Services this pass left as they were because they are suspended. */
  suspended?: string[];
  /** Rollout steps taken and rollouts aborted in this pass (reconcile/rollouts.ts). */
  rollouts?: { service: string; from: string; to: string; event: "step" | "done" | "abort"; weight: number; reason: string }[];
  /** What went wrong, each with what to do next (the error registry's hint). */
  errors: {
    code: string;
    kind: string;
    message: string;
    hint?: string;
    /** A rejected bundle or version an earlier pass already reported: not counted again (reconcile/rejections.ts). */
    repeated?: boolean;
  }[];
}

/** This process's part in a cluster. */
export interface ClusterStatus {
  role: "all" | "node" | "registrar";
  /** Registrar: whether it holds the registrar lock, and who does. */
  lock?: { held: boolean; holder: string | null };
  /** Registrar: versions not registered yet because not every Ready node serves them. */
  waiting?: string[];
}

export interface Status {
  cluster?: ClusterStatus;
  source: { kind: string; location: string; revision?: string; error?: string };
  workerd: {
    url: string;
    pid?: number;
    generation: number;
    mode: "loader" | "static";
    /** The node's workerd processes (cells): a version's deployment URI names its cell. */
    cells?: CellStatus[];
  };
  restate: { ingressUrl: string; adminUrl: string; pid?: number };
  services: ServiceStatus[];
  lastReconcile?: ReconcileResult;
  history: ReconcileResult[];
  /** When Restate was asked for the invocations in trouble, and why it could not answer. */
  troubleCheck?: { checkedAt: string; error?: string };
  /** Set while the whole mesh is suspended: passes observe, and change nothing. */
  suspended?: SuspensionStatus;
}

/** A service's progressive rollout as its last judgement saw it (reconcile/rollouts.ts). */
export interface RolloutStatus {
  from: string;
  to: string;
  /** Percent of new invocations the new version gets now (0 once aborted). */
  weight: number;
  steps: number[];
  /** The ramp deployment of the current step and when it began. */
  deploymentId?: string;
  since?: string;
  /** The current step's invocations, per version (restate/rollout-stats.ts). */
  counts: { old: RolloutCounts; new: RolloutCounts };
  decision: "advance" | "hold" | "abort" | "aborted" | "done";
  reason: string;
  at: string;
}

/** What `gridiron plan` prints: what a pass would do now, through the same gate, without doing it. */
export interface PlanReport {
  revision: string;
  plan: Omit<Plan, "timers">;
  invalid: { service: string; code: string; message: string }[];
  /** New versions as a pass would judge them: scratch workerd, Restate dry run, breaking changes, conflicts. */
  checks: { service: string; version: string; ok: boolean; message?: string; restateServices?: string[] }[];
}

export interface CellStatus {
  index: number;
  /** Base URL of the cell's socket: deployment URIs of its versions start with it. */
  url: string;
  /** Serving generation's pid (none: the cell has not run yet). */
  pid?: number;
  generation: number;
  /** "<service>/<version>" of each version the cell serves. */
  versions: string[];
  /** A lane (--lanes): one version, on a socket of its own, without the router's hop. */
  lane?: true;
  /** Its watchdog's view (workerd/watchdog.ts): RSS, CPU, limits, restarts by reason, last fault. */
  health?: CellHealth;
}
