// What the reconcile loop is given: its collaborators, resolved once by node/mesh.ts, and the
// lifecycle settings of drains and retention.
import type { Logger } from "pino";
import type { RestateAdmin } from "../restate/admin.ts";
import type { BundleLimits } from "../source/bundle.ts";
import type { Source } from "../source/source.ts";
import type { VersionStore } from "../store/versions.ts";
import type { WorkerdMode, WorkerdPolicy } from "../workerd/build.ts";
import type { ConfigFiles } from "../workerd/config-files.ts";
import type { WorkerdProcess } from "../workerd/process.ts";
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
  workerd: WorkerdProcess;
  configFiles: ConfigFiles;
  /** Base URL Restate uses to reach our workerd, e.g. http://127.0.0.1:9080 */
  workerdUrl: string;
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
  /** How workerd serves versions (build.ts); omitted: "static" (the daemon's default is "loader"). */
  workerdMode?: WorkerdMode;
  /** Loader mode: the version store's root, which the router reads module bytes from. */
  versionsDir?: string;
  /**
   * Loader mode: versions dropped from the live set stay loaded (the Worker Loader never evicts
   * them) until a fresh generation replaces the process; it does once this many have piled up.
   */
  recycleAfter?: number;
}
