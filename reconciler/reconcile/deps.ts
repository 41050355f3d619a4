// What the reconcile loop is given: its collaborators, resolved once by node/mesh.ts, and the
// lifecycle settings of drains and retention.
import type { Logger } from "pino";
import type { RestateAdmin } from "../restate/admin.ts";
import type { Bundle, BundleLimits } from "../source/bundle.ts";
import type { PinStore } from "../store/pins.ts";
import type { SuspensionStore } from "../store/suspensions.ts";
import type { Source } from "../source/source.ts";
import type { VersionStore } from "../store/versions.ts";
import type { WorkerdPolicy } from "../workerd/build.ts";
import type { Cells } from "../workerd/cells.ts";
import type { CellHealth } from "../workerd/watchdog.ts";
import { DEFAULT_GRACE_MS, DEFAULT_RETAIN } from "./plan.ts";
import type { FaultRecord } from "./poison.ts";

/**
 * What a Gridiron process does. all: everything, on one machine. node: fetch, validate, store and
 * serve (never touches Restate's registry). registrar: register, promote, drain and deregister,
 * once every node serves a version (serves nothing itself).
 */
export const ROLES = ["all", "node", "registrar"] as const;
export type Role = (typeof ROLES)[number];

/** What a registrar knows of its lock before a pass. */
export interface LockState {
  /** This registrar holds it: it may change Restate's registry. */
  held: boolean;
  /** The lock's own service is not registered yet: registering that one bundle is allowed. */
  missing: boolean;
  /** The bundle (Gridiron service name) that provides the lock. */
  service: string;
  /** Who holds it, when known. */
  holder?: string | null;
}

export interface LifecycleOptions {
  /** How long a version must stay drained before removal. */
  graceMs: number;
  /** Report a version as stuck after draining this long (null: never). */
  deadlineMs: number | null;
  /** Versions kept on disk per service. */
  retain: number;
  /** How often drains are re-checked while any version is draining. */
  drainPollMs: number;
}

export const DEFAULT_LIFECYCLE: LifecycleOptions = { graceMs: DEFAULT_GRACE_MS, deadlineMs: null, retain: DEFAULT_RETAIN, drainPollMs: 2000 };

export interface ReconcilerDeps {
  logger: Logger;
  source: Source;
  store: VersionStore;
  admin: RestateAdmin;
  /** The node's workerd processes; a version's deployment URI names its cell's base URL. */
  cells: Cells;
  /** Default "all". */
  role?: Role;
  /**
   * Registrar: what every Ready node serves (key → cell), asked before each pass; a version is
   * registered only once it is in there.
   */
  nodesServe?: () => Promise<Map<string, number>>;
  /** Where rollback pins live; default a file in the data dir (a cluster keeps them in Restate). */
  pins?: PinStore;
  /** Where suspensions live; default a file in the data dir (a cluster keeps them in Restate). */
  suspensions?: SuspensionStore;
  /** Bundles Gridiron serves itself in a cluster (the registrar lock), beside the source's. */
  system?: readonly Bundle[];
  /** Registrar: asks every node for a pass now (a version or a pin the nodes have not seen yet). */
  pokeNodes?: () => void;
  /** Registrar: the lock that lets one registrar act at a time. */
  registrarLock?: { check(): Promise<LockState>; current(): LockState };
  ingressUrl: string;
  dataDir: string;
  /** Request identity keys and outbound policy of every workerd config (serving and scratch). */
  workerdPolicy: WorkerdPolicy;
  /** Signs Gridiron's own requests to workerd (the scratch /discover) like Restate does. */
  signRequest?: (path: string) => Record<string, string>;
  limits?: BundleLimits;
  lifecycle?: Partial<LifecycleOptions>;
  /** How long a new version may take to load on the scratch workerd. */
  validateTimeoutMs?: number;
  /** pid of the restate-server we manage, for status (undefined when it is external). */
  restatePid?: () => number | undefined;
  /** Register without `Connection: close` (see reconcile/apply.ts); applies to new registrations. */
  restateKeepAlive?: boolean;
  /** What the cell watchdogs saw (node/watchdogs.ts): faults and poisoned invocations, each cell's health. */
  faults?: { record: FaultRecord; health(cell: number): CellHealth | undefined };
}
