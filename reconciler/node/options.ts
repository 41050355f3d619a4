// Options resolved once at the edge (flags over environment over defaults), frozen, passed down.
import { resolve } from "node:path";
import { REPO_ROOT } from "../core/paths.ts";
import { callableUrl } from "../core/address.ts";
import { isLoopbackHost } from "../api/auth.ts";
import { ROLES, type Role } from "../reconcile/deps.ts";
import { DEFAULT_LOADED_MAX, OUTBOUND_POLICIES, WORKERD_MODES, type OutboundPolicy, type WorkerdMode } from "../workerd/build.ts";

export const REGISTRAR_LOCKS = ["restate", "kubernetes"] as const;
export type RegistrarLockKind = (typeof REGISTRAR_LOCKS)[number];


export interface Options {
  dataDir: string;
  bundlesDir: string;
  host: string;
  ingressPort: number;
  adminPort: number;
  nodePort: number;
  workerdPort: number;
  cells: number;
  /** Lanes after the cells: one version each, on a port of its own, without the router's hop. */
  lanes: number;
  /** A cell whose JS thread stays busy this long is replaced (versions that declare no hangMs). */
  cellHangMs: number;
  /** The most a version's gridiron.json may ask for as its hangMs. */
  cellHangMsMax: number;
  /** A cell whose resident memory exceeds this is replaced (versions that declare no memoryMb). */
  cellMemoryMb: number;
  /** The most a version's gridiron.json may ask for as its memoryMb. */
  cellMemoryMbMax: number;
  /** Restate's admin API URL(s), comma-separated; empty: http://<host>:<admin-port>. */
  restateAdminUrl: string;
  /** Restate's ingress URL; empty: http://<host>:<ingress-port>. */
  restateIngressUrl: string;
  /** A shared request identity private key (PEM); empty: <data>/identity/private.pem. */
  identityKeyFile: string;
  /** Name in the cluster (the registrar lock's holder); empty: <hostname>-<pid>-<random>. */
  nodeName: string;
  /** What this process does in a cluster: node (serve), registrar (register), or all (one machine). */
  role: Role;
  /** Registrar: API base URLs of the nodes that must serve a version before it is registered. */
  nodes: string;
  /** The nodes' workerd address as Restate reaches it (cell i: its port + i); empty: http://<host>:<workerd-port>. */
  workerdUrl: string;
  /** Registrar: how long the registrar lock lasts without renewal (failover time). */
  registrarLeaseMs: number;
  /** Registrar: where the registrar lock lives: in Restate, or a Kubernetes Lease. */
  registrarLock: RegistrarLockKind;
  /** Registrar, with --registrar-lock kubernetes: the Lease, `name` or `namespace/name`. */
  registrarLeaseName: string;
  apiPort: number;
  restateConfig: string;
  /** Start restate-server ourselves (true) or use one already running at adminPort/ingressPort. */
  manageRestate: boolean;
  /** Quiet period after the last change in the bundles folder before a reconcile starts. */
  debounceMs: number;
  /** Level-triggered safety net: a full pass this often even without changes. */
  resyncMs: number;
  logLevel: string;
  logFormat: "json" | "pretty";
  /** Git remote holding the desired state; empty: use the bundles folder. */
  gitUrl: string;
  gitBranch: string;
  /** Folder inside the repository with one bundle per directory ("." for the root). */
  gitPath: string;
  /** Background fetch interval (doubling while fetches fail). */
  gitFetchMs: number;
  /** Private key file for SSH remotes. */
  gitSshKey: string;
  /** HTTPS token (env only): "user:token" or a bare token. */
  gitToken: string;
  /** HMAC secret of POST /hooks/git (env only); empty: unsigned hooks are accepted. */
  webhookSecret: string;
  /** Where every deploy, rollout step, abort, rollback, failed version and poison pause is POSTed as JSON; empty: nowhere. */
  notifyUrl: string;
  /** File holding the HMAC secret that signs each notification (X-Hub-Signature-256); empty: unsigned. */
  notifySecretFile: string;
  /** A replaced version is removed once nothing has needed it for this long. */
  drainGraceMs: number;
  /** Report a draining version as stuck after this long; 0 turns the deadline off. */
  drainDeadlineMs: number;
  /** Stored versions kept on disk per service (for rollback). */
  retain: number;
  /** Bundle limits: bytes per file, files per bundle, bytes per bundle. */
  maxFileBytes: number;
  maxFiles: number;
  maxBundleBytes: number;
  /** How long a new version may take to load on the scratch workerd before it is refused. */
  validateTimeoutMs: number;
  /** Register deployments without `Connection: close` (faster; a swap may make Restate retry a call). */
  restateKeepAlive: boolean;
  /** What bundle code may reach with fetch(): public addresses only, nothing, or everything. */
  outbound: OutboundPolicy;
  /** loader: versions loaded at run time, deploys restart nothing (workerd --experimental); static: stable features only. */
  workerdMode: WorkerdMode;
  /** Loader mode: versions one workerd process keeps loaded; past it the least recently used is unloaded. */
  workerdLoadedMax: number;
  /** workerd refuses requests not signed with the mesh's Restate request identity key. */
  requestIdentity: boolean;
  /** The manager API wants `Authorization: Bearer <token>`; forced on for a non-loopback host. */
  requireApiToken: boolean;
  /** Bearer token of the manager API (env only); empty: generated into <data>/api-token. */
  apiToken: string;
}

export interface OptionSpec {
  key: keyof Options;
  flag: string;
  env: string;
  default: (o: Partial<Options>) => string;
  doc: string;
  /** Secrets: read from the environment only, never from flags (argv is visible to every user). */
  envOnly?: boolean;
}

// One table drives parsing, `--help` and docs/configuration.md (scripts/gen-config-docs.ts).
export const OPTION_SPECS: OptionSpec[] = [
  { key: "dataDir", flag: "data-dir", env: "GRIDIRON_DATA_DIR", default: () => ".gridiron", doc: "state: version store, workerd config, restate-server data" },
  { key: "bundlesDir", flag: "bundles-dir", env: "GRIDIRON_BUNDLES_DIR", default: () => "bundles", doc: "watched desired-state folder, one bundle per directory" },
  { key: "host", flag: "host", env: "GRIDIRON_HOST", default: () => "127.0.0.1", doc: "address every server binds (loopback by default)" },
  { key: "ingressPort", flag: "ingress-port", env: "GRIDIRON_INGRESS_PORT", default: () => "8080", doc: "Restate ingress (clients call services here)" },
  { key: "adminPort", flag: "admin-port", env: "GRIDIRON_ADMIN_PORT", default: () => "9070", doc: "Restate admin API" },
  { key: "nodePort", flag: "node-port", env: "GRIDIRON_RESTATE_NODE_PORT", default: () => "5122", doc: "Restate node-to-node port" },
  { key: "workerdPort", flag: "workerd-port", env: "GRIDIRON_WORKERD_PORT", default: () => "9080", doc: "workerd: every version at /<service>/<version>/ on its cell's port; cell i listens on this port + i" },
  { key: "restateAdminUrl", flag: "restate-admin-url", env: "GRIDIRON_RESTATE_ADMIN_URL", default: () => "", doc: "with --manage-restate=false: Restate's admin API, or several comma-separated (the nodes of a cluster) to fail over between; default http://<host>:<admin-port>" },
  { key: "restateIngressUrl", flag: "restate-ingress-url", env: "GRIDIRON_RESTATE_INGRESS_URL", default: () => "", doc: "with --manage-restate=false: Restate's ingress (e.g. a Service in front of every Restate node); default http://<host>:<ingress-port>" },
  { key: "identityKeyFile", flag: "identity-key-file", env: "GRIDIRON_IDENTITY_KEY_FILE", default: () => "", doc: "the request identity's Ed25519 private key (PEM), shared by every node and every Restate node of a cluster (a mounted Secret); default <data>/identity/private.pem, generated on first start" },
  { key: "nodeName", flag: "node-name", env: "GRIDIRON_NODE_NAME", default: () => "", doc: "this process's name in a cluster (a registrar holds the lock under it; a pod name in Kubernetes); default <hostname>-<pid>-<random>" },
  { key: "role", flag: "role", env: "GRIDIRON_ROLE", default: () => "all", doc: "all: one machine does everything; node: fetch, validate, store and serve in workerd (a registrar registers); registrar: register, promote, drain and deregister in Restate once every node serves a version (one acts at a time, by a lock kept in Restate)" },
  { key: "nodes", flag: "nodes", env: "GRIDIRON_NODES", default: () => "", doc: "registrar: comma-separated API URLs of the nodes (dns+http://name:port: every address name resolves to, e.g. a headless Service); a version is registered only once every node that answers serves it" },
  { key: "workerdUrl", flag: "workerd-url", env: "GRIDIRON_WORKERD_URL", default: () => "", doc: "the nodes' workerd as Restate reaches it, e.g. a Service address (cell i: its port + i); default http://<host>:<workerd-port>" },
  { key: "registrarLeaseMs", flag: "registrar-lease-ms", env: "GRIDIRON_REGISTRAR_LEASE_MS", default: () => "10000", doc: "registrar: how long the registrar lock holds without renewal; another registrar takes over after it" },
  { key: "registrarLock", flag: "registrar-lock", env: "GRIDIRON_REGISTRAR_LOCK", default: () => "restate", doc: "registrar: where the lock that lets one registrar act lives: restate (the GridironLock virtual object, anywhere) or kubernetes (a coordination.k8s.io/v1 Lease, through the pod's service account or the kubeconfig)" },
  { key: "registrarLeaseName", flag: "registrar-lease-name", env: "GRIDIRON_REGISTRAR_LEASE_NAME", default: () => "gridiron-registrar", doc: "registrar, with --registrar-lock kubernetes: the Lease, as name (in the pod's namespace) or namespace/name" },
  { key: "cells", flag: "cells", env: "GRIDIRON_CELLS", default: () => "4", doc: "workerd processes (cells) per node, each a failure domain: every service gets a cell of its own while there are enough, then they share (1: one process for everything)" },
  { key: "lanes", flag: "lanes", env: "GRIDIRON_LANES", default: (o) => (o.role === "all" ? String(DEFAULT_LANES) : "0"), doc: "workerd processes after the cells (ports workerd-port + cells + i) that each serve one new version on its own port, checked and called in its own isolate, without the router's hop (more calls per core, less memory per hot version; docs/performance.md#lanes); a version that finds none free, or whose service has a rollout policy, goes to a cell; role all only (default 0 for the others); 0: every version in the cells" },
  { key: "cellHangMs", flag: "cell-hang-ms", env: "GRIDIRON_CELL_HANG_MS", default: () => "5000", doc: "a cell whose JS thread stays busy this long (its health route unanswered) is killed and replaced; a version's gridiron.json may ask for another limit (docs/reliability.md)" },
  { key: "cellHangMsMax", flag: "cell-hang-ms-max", env: "GRIDIRON_CELL_HANG_MS_MAX", default: (o) => String(Math.max(30_000, o.cellHangMs ?? 0)), doc: "the longest hangMs a version's gridiron.json may ask for (default: 30000, Cloudflare's CPU limit per request)" },
  { key: "cellMemoryMb", flag: "cell-memory-mb", env: "GRIDIRON_CELL_MEMORY_MB", default: () => "1024", doc: "a cell whose resident memory exceeds this many MB is killed and replaced; a version's gridiron.json may ask for another limit" },
  { key: "cellMemoryMbMax", flag: "cell-memory-mb-max", env: "GRIDIRON_CELL_MEMORY_MB_MAX", default: (o) => String(Math.max(2048, o.cellMemoryMb ?? 0)), doc: "the most memoryMb a version's gridiron.json may ask for" },
  { key: "apiPort", flag: "api-port", env: "GRIDIRON_API_PORT", default: () => "8081", doc: "reconciler HTTP API (/status, /reconcile, /healthz, /readyz)" },
  { key: "restateConfig", flag: "restate-config", env: "GRIDIRON_RESTATE_CONFIG", default: () => resolve(REPO_ROOT, "config/restate.toml"), doc: "restate-server config file" },
  { key: "manageRestate", flag: "manage-restate", env: "GRIDIRON_MANAGE_RESTATE", default: () => "true", doc: "start restate-server (false: use a running one)" },
  { key: "debounceMs", flag: "debounce-ms", env: "GRIDIRON_DEBOUNCE_MS", default: () => "100", doc: "quiet time after a bundles/ change before reconciling" },
  { key: "resyncMs", flag: "resync-ms", env: "GRIDIRON_RESYNC_MS", default: () => "30000", doc: "periodic full reconcile interval" },
  { key: "drainGraceMs", flag: "drain-grace-ms", env: "GRIDIRON_DRAIN_GRACE_MS", default: () => "30000", doc: "time a replaced version must stay drained before it is removed" },
  { key: "drainDeadlineMs", flag: "drain-deadline-ms", env: "GRIDIRON_DRAIN_DEADLINE_MS", default: () => "0", doc: "report a version still draining after this long as stuck (0: off)" },
  { key: "maxFileBytes", flag: "max-file-bytes", env: "GRIDIRON_MAX_FILE_BYTES", default: () => String(32 * 1024 * 1024), doc: "largest file a bundle may hold" },
  { key: "maxFiles", flag: "max-files", env: "GRIDIRON_MAX_FILES", default: () => "1000", doc: "most files a bundle may hold" },
  { key: "maxBundleBytes", flag: "max-bundle-bytes", env: "GRIDIRON_MAX_BUNDLE_BYTES", default: () => String(128 * 1024 * 1024), doc: "largest total size of a bundle" },
  { key: "validateTimeoutMs", flag: "validate-timeout-ms", env: "GRIDIRON_VALIDATE_TIMEOUT_MS", default: () => "15000", doc: "time a new version may take to load on the scratch workerd (a top-level infinite loop is refused after it)" },
  { key: "retain", flag: "retain", env: "GRIDIRON_RETAIN", default: () => "5", doc: "versions kept on disk per service for rollback" },
  { key: "logLevel", flag: "log-level", env: "GRIDIRON_LOG_LEVEL", default: () => "info", doc: "pino level: debug, info, warn, error" },
  { key: "logFormat", flag: "log-format", env: "GRIDIRON_LOG_FORMAT", default: () => (process.stdout.isTTY ? "pretty" : "json"), doc: "json, or pretty (default in a terminal)" },
  { key: "gitUrl", flag: "git", env: "GRIDIRON_GIT_URL", default: () => "", doc: "git remote to deploy from (https://, ssh:// or a path) instead of the bundles folder" },
  { key: "gitBranch", flag: "branch", env: "GRIDIRON_GIT_BRANCH", default: () => "main", doc: "branch of --git whose tip is the desired state" },
  { key: "gitPath", flag: "path", env: "GRIDIRON_GIT_PATH", default: () => "bundles", doc: "folder in the --git repository with one bundle per directory (. for the root)" },
  { key: "gitFetchMs", flag: "git-fetch-ms", env: "GRIDIRON_GIT_FETCH_MS", default: () => "30000", doc: "background git fetch interval (backs off while the remote fails)" },
  { key: "gitSshKey", flag: "git-ssh-key", env: "GRIDIRON_GIT_SSH_KEY", default: () => "", doc: "private key file for ssh:// remotes" },
  { key: "gitToken", flag: "git-token", env: "GRIDIRON_GIT_TOKEN", default: () => "", doc: "HTTPS token for the --git remote: user:token, or a bare token (sent as x-access-token)", envOnly: true },
  { key: "webhookSecret", flag: "webhook-secret", env: "GRIDIRON_WEBHOOK_SECRET", default: () => "", doc: "HMAC secret that POST /hooks/git requires (X-Hub-Signature-256)", envOnly: true },
  { key: "notifyUrl", flag: "notify-url", env: "GRIDIRON_NOTIFY_URL", default: () => "", doc: "http(s) URL that receives a signed JSON event for every deploy, rollout step and abort, rollback, failed version and invocation paused as poison (docs/operations.md#notifications); in a cluster the registrar sends registry events, each node its own" },
  { key: "notifySecretFile", flag: "notify-secret-file", env: "GRIDIRON_NOTIFY_SECRET_FILE", default: () => "", doc: "file holding the HMAC secret that signs each notification as X-Hub-Signature-256 (as GitHub signs POST /hooks/git); its own secret, not GRIDIRON_WEBHOOK_SECRET, because the receiver is another party than the git host; a file so a mounted Secret works; empty: notifications go unsigned" },
  { key: "workerdMode", flag: "workerd-mode", env: "GRIDIRON_WORKERD_MODE", default: () => "loader", doc: "loader: one workerd loads versions at run time, a deploy restarts nothing (uses workerd --experimental); static: every version compiled into the config, a new workerd per change (stable features only)" },
  { key: "workerdLoadedMax", flag: "workerd-loaded-max", env: "GRIDIRON_WORKERD_LOADED_MAX", default: () => String(DEFAULT_LOADED_MAX), doc: "loader mode: versions each cell keeps loaded (a few MB each); past it the least recently used is unloaded and loads again on its next call, which then takes tens of ms (docs/performance.md#memory)" },
  { key: "restateKeepAlive", flag: "restate-keep-alive", env: "GRIDIRON_RESTATE_KEEP_ALIVE", default: (o) => (o.workerdMode === "static" ? "false" : "true"), doc: "let Restate keep connections to workerd open (more throughput; an invocation may be retried when a workerd process is replaced, which loader mode does only after a crash or a cell's watchdog); default true in loader mode, false in static" },
  { key: "outbound", flag: "outbound", env: "GRIDIRON_OUTBOUND", default: () => "public", doc: "what bundle code may fetch(): public (no loopback/private addresses), none, or all" },
  { key: "requestIdentity", flag: "request-identity", env: "GRIDIRON_REQUEST_IDENTITY", default: () => "true", doc: "workerd accepts only requests signed by Restate with <data>/identity/private.pem (false: any caller)" },
  { key: "requireApiToken", flag: "require-api-token", env: "GRIDIRON_REQUIRE_API_TOKEN", default: (o) => (o.host === undefined || isLoopbackHost(o.host) ? "false" : "true"), doc: "the API wants Authorization: Bearer <data>/api-token (always on when --host is not loopback)" },
  { key: "apiToken", flag: "api-token", env: "GRIDIRON_API_TOKEN", default: () => "", doc: "bearer token of the API (default: generated into <data>/api-token)", envOnly: true },
];

const BOOLEAN_KEYS = new Set<keyof Options>(["manageRestate", "requestIdentity", "requireApiToken", "restateKeepAlive"]);
/**
 * Lanes by default (role all): room for two services to deploy at once, each version on a lane
 * while the old one drains. Each lane in use is a workerd process (docs/performance.md#lanes).
 */
export const DEFAULT_LANES = 4;
/** Each cell is a workerd process with its own port (workerd-port + i). */
export const MAX_CELLS = 64;
/** Cell limits below these would replace healthy cells (a probe a few ms late, a runtime's base RSS). */
const CELL_LIMIT_MIN: Partial<Record<keyof Options, number>> = { cellHangMs: 500, cellHangMsMax: 500, cellMemoryMb: 32, cellMemoryMbMax: 32, workerdLoadedMax: 1 };

const NUMBER_KEYS = new Set<keyof Options>(["ingressPort", "adminPort", "nodePort", "workerdPort", "cells", "lanes", "cellHangMs", "cellHangMsMax", "cellMemoryMb", "cellMemoryMbMax", "registrarLeaseMs", "apiPort", "debounceMs", "resyncMs", "gitFetchMs", "drainGraceMs", "drainDeadlineMs", "retain", "maxFileBytes", "maxFiles", "maxBundleBytes", "validateTimeoutMs", "workerdLoadedMax"]);

export function resolveOptions(flags: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Readonly<Options> {
  const out: Record<string, unknown> = {};
  for (const spec of OPTION_SPECS) {
    const raw = (spec.envOnly ? undefined : flags[spec.flag]) ?? env[spec.env] ?? spec.default(out as Partial<Options>);
    const value = String(raw);
    if (NUMBER_KEYS.has(spec.key)) {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0 || (spec.key.endsWith("Port") && n > 65535)) {
        throw new Error(`--${spec.flag} / ${spec.env}: expected a whole number${spec.key.endsWith("Port") ? " (port 0-65535)" : ""}, got ${JSON.stringify(value)}`);
      }
      if (spec.key === "cells" && (n < 1 || n > MAX_CELLS)) throw new Error(`--${spec.flag} / ${spec.env}: expected 1 to ${MAX_CELLS} cells, got ${n}`);
      if (spec.key === "lanes" && n > MAX_CELLS) throw new Error(`--${spec.flag} / ${spec.env}: expected 0 to ${MAX_CELLS} lanes, got ${n}`);
      const least = CELL_LIMIT_MIN[spec.key];
      if (least !== undefined && n < least) throw new Error(`--${spec.flag} / ${spec.env}: expected at least ${least}, got ${n}`);
      out[spec.key] = n;
    } else if (BOOLEAN_KEYS.has(spec.key)) {
      if (!/^(true|false|1|0)$/.test(value)) throw new Error(`--${spec.flag} / ${spec.env}: expected true or false, got ${JSON.stringify(value)}`);
      out[spec.key] = value === "true" || value === "1";
    } else if (spec.key === "role") {
      if (!(ROLES as readonly string[]).includes(value)) throw new Error(`--${spec.flag} / ${spec.env}: expected ${ROLES.join(", ")}, got ${JSON.stringify(value)}`);
      out[spec.key] = value;
    } else if (spec.key === "registrarLock") {
      if (!(REGISTRAR_LOCKS as readonly string[]).includes(value)) throw new Error(`--${spec.flag} / ${spec.env}: expected ${REGISTRAR_LOCKS.join(" or ")}, got ${JSON.stringify(value)}`);
      out[spec.key] = value;
    } else if (spec.key === "workerdMode") {
      if (!(WORKERD_MODES as readonly string[]).includes(value)) throw new Error(`--${spec.flag} / ${spec.env}: expected ${WORKERD_MODES.join(" or ")}, got ${JSON.stringify(value)}`);
      out[spec.key] = value;
    } else if (spec.key === "outbound") {
      if (!(OUTBOUND_POLICIES as readonly string[]).includes(value)) throw new Error(`--${spec.flag} / ${spec.env}: expected ${OUTBOUND_POLICIES.join(", ")}, got ${JSON.stringify(value)}`);
      out[spec.key] = value;
    } else if (spec.key === "logFormat") {
      if (value !== "json" && value !== "pretty") throw new Error(`--${spec.flag} / ${spec.env}: expected json or pretty, got ${JSON.stringify(value)}`);
      out[spec.key] = value;
    } else {
      out[spec.key] = value;
    }
  }
  out.dataDir = resolve(cwd, out.dataDir as string);
  out.bundlesDir = resolve(cwd, out.bundlesDir as string);
  out.restateConfig = resolve(cwd, out.restateConfig as string);
  if (out.gitSshKey) out.gitSshKey = resolve(cwd, out.gitSshKey as string);
  if (out.notifySecretFile) out.notifySecretFile = resolve(cwd, out.notifySecretFile as string);
  if (out.notifyUrl && !/^https?:$/.test(URL.parse(out.notifyUrl as string)?.protocol ?? "")) throw new Error(`--notify-url / GRIDIRON_NOTIFY_URL: expected an http:// or https:// URL, got ${JSON.stringify(out.notifyUrl)}`);
  // A lane's port is in its versions' deployment URIs, and a cluster's nodes share one address per
  // cell (--workerd-url): there is no per-version port plan across nodes (yet).
  if ((out.lanes as number) > 0 && out.role !== "all") throw new Error(`--lanes / GRIDIRON_LANES: lanes serve on one machine only (role all), not with --role ${out.role as string}`);
  if (out.gitFetchMs === 0) throw new Error("--git-fetch-ms / GRIDIRON_GIT_FETCH_MS: must be at least 1");
  if ((out.cellHangMsMax as number) < (out.cellHangMs as number)) throw new Error(`--cell-hang-ms-max / GRIDIRON_CELL_HANG_MS_MAX: ${out.cellHangMsMax as number} is below --cell-hang-ms ${out.cellHangMs as number}`);
  if ((out.cellMemoryMbMax as number) < (out.cellMemoryMb as number)) throw new Error(`--cell-memory-mb-max / GRIDIRON_CELL_MEMORY_MB_MAX: ${out.cellMemoryMbMax as number} is below --cell-memory-mb ${out.cellMemoryMb as number}`);
  if (!out.requireApiToken && !isLoopbackHost(out.host as string)) {
    throw new Error(`--require-api-token / GRIDIRON_REQUIRE_API_TOKEN: cannot be false with --host ${out.host as string}: an API reachable from other machines always wants the token`);
  }
  return Object.freeze(out as unknown as Options);
}

export const workerdBaseUrl = (o: Pick<Options, "host" | "workerdPort">): string => `http://${o.host}:${o.workerdPort}`;
/** Where a client on this machine calls the API. */
export const apiUrl = (o: Pick<Options, "host" | "apiPort">): string => callableUrl(o.host, o.apiPort);
