// What the reconcile loop is given: its collaborators, resolved once by node/mesh.ts, and the
// lifecycle settings of drains and retention.
import type { Logger } from "pino";
import type { RestateAdmin } from "../restate/admin.ts";
import type { BundleLimits } from "../source/bundle.ts";
import type { Source } from "../source/source.ts";
import type { VersionStore } from "../store/versions.ts";
import type { WorkerdPolicy } from "../workerd/build.ts";
import type { Cells } from "../workerd/cells.ts";
import { DEFAULT_GRACE_MS, DEFAULT_RETAIN } from "./plan.ts";

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
}
