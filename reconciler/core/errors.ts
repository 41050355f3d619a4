// One error type for the whole reconciler. The `kind` says what the loop should do next, so the
// decision is made once, in the registry below, not re-derived by every caller.
//   waiting: transient (a server not up yet, a network blip) — retry later on its own;
//   stalled: needs a human (a bad bundle, an invalid name) — nothing retries until input changes;
//   failed:  an unexpected fault in Gridiron or a dependency — retried with backoff, reported.
export type ErrorKind = "waiting" | "stalled" | "failed";

/**
 * What an error is about, for callers that act on a group of codes (a source error keeps the
 * pass from touching anything that serves): source = the desired state cannot be read;
 * bundle = one bundle or version is refused; version = a stored or served version is in trouble.
 */
export type ErrorArea = "source" | "bundle" | "version" | "store" | "restate" | "workerd" | "api" | "config" | "internal";

interface ErrorSpec {
  readonly kind: ErrorKind;
  readonly area: ErrorArea;
  /** What the user should do next; the message says what happened. */
  readonly hint: string;
}

/** Every error code Gridiron raises, once. A code's kind is fixed here: two kinds, two codes. */
export const ERRORS = {
  // The desired state (a bundles folder or a git branch) cannot be read: nothing that serves is touched.
  SOURCE_MISSING: { kind: "waiting", area: "source", hint: "Create the bundles folder or point GRIDIRON_BUNDLES_DIR at it; Gridiron picks it up when it appears." },
  SOURCE_NOT_A_FOLDER: { kind: "stalled", area: "source", hint: "GRIDIRON_BUNDLES_DIR must name a directory: move the file away or change the setting." },
  SOURCE_UNREADABLE: { kind: "waiting", area: "source", hint: "Check that Gridiron's user can list the bundles folder; the next pass retries." },
  SOURCE_EMPTY: { kind: "stalled", area: "source", hint: "Commit the bundle directories under the configured path, or an empty gridiron-allow-empty file there to really deploy nothing." },
  SOURCE_GIT_FETCH: { kind: "waiting", area: "source", hint: "Check the repository URL and that the git server is reachable; Gridiron retries with backoff." },
  SOURCE_GIT_BRANCH: { kind: "waiting", area: "source", hint: "Push the branch or set GRIDIRON_GIT_BRANCH to one that exists; Gridiron retries with backoff." },
  SOURCE_GIT_AUTH: { kind: "waiting", area: "source", hint: "Set GRIDIRON_GIT_TOKEN (HTTPS) or GRIDIRON_GIT_SSH_KEY (SSH) to a credential that can read the repository." },
  SOURCE_GIT_REPO: { kind: "waiting", area: "source", hint: "Check that the data dir is writable and has free space; Gridiron retries." },
  SOURCE_GIT_ABORTED: { kind: "waiting", area: "source", hint: "Nothing to do: the source is stopping." },

  // One bundle or version is refused; the others, and the version that serves it, are untouched.
  BUNDLE_INVALID: { kind: "stalled", area: "bundle", hint: "Fix the bundle as the message says and commit or copy it again." },
  VERSION_INVALID: { kind: "stalled", area: "bundle", hint: "Fix the bundle so workerd loads it and /discover answers a Restate manifest; try it with `gridiron plan`." },
  BREAKING_CHANGE: { kind: "stalled", area: "bundle", hint: "Keep the removed handlers, or set \"breaking\": true in the bundle's gridiron.json if the change is intended." },
  SERVICE_CONFLICT: { kind: "stalled", area: "bundle", hint: "Each Restate service may come from one bundle only: rename the service or remove one bundle." },

  // A stored or served version is in trouble.
  VERSION_STUCK: { kind: "stalled", area: "version", hint: "Invocations still need this version past its drain deadline: let them finish, or cancel them in Restate." },
  VERSION_UNSERVABLE: { kind: "stalled", area: "version", hint: "Put the bundle of this version back into the source, or remove its deployment from Restate." },
  ROLLBACK_NO_VERSION: { kind: "stalled", area: "version", hint: "Roll back to a version listed by `gridiron status`; retention may have removed older ones." },
  ROLLOUT_NONE: { kind: "stalled", area: "version", hint: "Only a service whose new version is on a ramp has a rollout to promote or abort; `gridiron rollout status <service>` shows it." },
  SERVICE_SUSPENDED: { kind: "stalled", area: "version", hint: "Gridiron changes nothing of a suspended service: `gridiron resume <service>` (or `gridiron resume` for the whole mesh) first." },
  SUSPEND_INVALID: { kind: "stalled", area: "api", hint: "Name a service that `gridiron status` lists, or none for the whole mesh; `gridiron status` also shows what is suspended." },

  // The version store on disk.
  STORE_WRITE: { kind: "failed", area: "store", hint: "Gridiron retries; if it persists, check the data dir's file system." },
  STORE_UNWRITABLE: { kind: "stalled", area: "store", hint: "Free space in the data dir or make it writable by Gridiron's user." },
  STORE_CORRUPT: { kind: "stalled", area: "store", hint: "Remove the damaged version directory from the store; Gridiron stores it again from the source." },
  STORE_BAD_NAME: { kind: "failed", area: "store", hint: "A bug in Gridiron: names are checked before they reach the store. Please report it." },
  STORE_MISSING: { kind: "failed", area: "store", hint: "Something removed a version from the store while it was needed; the next pass stores it again." },
  SECRET_FILE_UNREADABLE: { kind: "stalled", area: "store", hint: "Make the file readable by Gridiron's user, or move it away to let Gridiron create a new one." },
  SECRET_FILE_NOT_REGULAR: { kind: "stalled", area: "store", hint: "Replace the symlink or directory with a regular file (mode 0600)." },
  IDENTITY_KEY_INVALID: { kind: "stalled", area: "store", hint: "Move the key file away to let Gridiron generate a new Ed25519 key, then rebuild bundles that pin the old one." },

  // restate-server and its admin API.
  RESTATE_UNREACHABLE: { kind: "waiting", area: "restate", hint: "Check that restate-server is running and its admin URL is right; Gridiron retries." },
  RESTATE_HTTP: { kind: "stalled", area: "restate", hint: "Restate refused the request: the message carries its reason; fix the bundle or the call." },
  RESTATE_HTTP_RETRY: { kind: "failed", area: "restate", hint: "Restate failed or was overloaded; Gridiron retries with backoff. Check restate-server's log if it persists." },
  RESTATE_START: { kind: "failed", area: "restate", hint: "Read restate-server's output in the message and its log in the data dir." },
  RESTATE_PORT_TAKEN: { kind: "stalled", area: "restate", hint: "Stop what holds the port, or choose other ports (GRIDIRON_INGRESS_PORT, GRIDIRON_ADMIN_PORT, GRIDIRON_RESTATE_NODE_PORT)." },
  INVOCATION_NOT_FOUND: { kind: "stalled", area: "restate", hint: "Check the id with `gridiron invocations`; Restate forgets a completed invocation after its retention." },
  REQUEST_IDENTITY_REJECTED: { kind: "failed", area: "restate", hint: "restate-server must sign requests with this mesh's identity key: let Gridiron start it, point it at <data>/identity/private.pem, or run with --request-identity=false." },

  // workerd, the process that serves the bundles.
  WORKERD_NOT_FOUND: { kind: "stalled", area: "workerd", hint: "Run `npm ci` so the workerd package and its binary are installed." },
  WORKERD_START_FAILED: { kind: "stalled", area: "workerd", hint: "workerd refused the config: its output in the message names the bundle or line to fix." },
  WORKERD_START_ABORTED: { kind: "failed", area: "workerd", hint: "workerd was stopped while it started; the next pass starts it again." },
  WORKERD_READY_TIMEOUT: { kind: "failed", area: "workerd", hint: "workerd did not listen in time; check the machine's load and workerd's output in the message." },
  WORKERD_SPAWN_FAILED: { kind: "failed", area: "workerd", hint: "Check that the workerd binary exists and is executable." },
  WORKERD_CONTROL: { kind: "failed", area: "workerd", hint: "workerd's control socket failed; Gridiron retries. Check workerd's output if it persists." },
  WORKERD_ALREADY_STARTED: { kind: "failed", area: "workerd", hint: "A bug in Gridiron's workerd supervisor. Please report it." },
  WORKERD_NOT_STARTED: { kind: "failed", area: "workerd", hint: "A bug in Gridiron's workerd supervisor. Please report it." },
  WORKERD_NO_CONTROL: { kind: "failed", area: "workerd", hint: "A bug in Gridiron's workerd supervisor. Please report it." },
  WORKERD_STOPPED: { kind: "failed", area: "workerd", hint: "Nothing to do: Gridiron is stopping." },

  // Gridiron's own API and configuration.
  API_BODY_TOO_LARGE: { kind: "stalled", area: "api", hint: "Send a request body under 64 KiB." },
  API_BAD_JSON: { kind: "stalled", area: "api", hint: "Send a JSON request body." },
  CONFIG_INVALID: { kind: "stalled", area: "config", hint: "Fix the setting named in the message (see docs/configuration.md) and start Gridiron again." },
  INTERNAL: { kind: "failed", area: "internal", hint: "An unexpected fault; Gridiron retries. Please report it with the log if it persists." },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERRORS, code);
}

/** The user's next step for a code, or undefined for a code this build does not know. */
export function hintOf(code: string): string | undefined {
  return isErrorCode(code) ? ERRORS[code].hint : undefined;
}

/** True for errors that mean the desired state could not be read (so nothing may be removed). */
export function isSourceError(e: { code: string }): boolean {
  return isErrorCode(e.code) && ERRORS[e.code].area === "source";
}

/** True for errors of this machine's own data dir (the version store, key files): another node does not share them. */
export function isStoreError(e: { code: string }): boolean {
  return isErrorCode(e.code) && ERRORS[e.code].area === "store";
}

export interface GridironErrorJSON {
  code: ErrorCode;
  kind: ErrorKind;
  message: string;
  hint: string;
  context: Record<string, unknown>;
}

type Options = { cause?: unknown };

export class GridironError extends Error {
  readonly code: ErrorCode;
  readonly kind: ErrorKind;
  /** Free-form context (bundle, file, URL, HTTP status, response body…) for logs and status. */
  readonly context: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, context: Record<string, unknown> = {}, options?: Options) {
    super(message, options);
    if (!isErrorCode(code)) throw new TypeError(`unregistered GridironError code ${JSON.stringify(code)}`);
    this.name = "GridironError";
    this.code = code;
    this.kind = ERRORS[code].kind;
    this.context = context;
  }

  get hint(): string {
    return ERRORS[this.code].hint;
  }

  toJSON(): GridironErrorJSON {
    return { code: this.code, kind: this.kind, message: this.message, hint: this.hint, context: this.context };
  }
}

/** Invalid input that will not fix itself: the bundle or manifest must change. */
export function bundleError(bundle: string, message: string, context: Record<string, unknown> = {}): GridironError {
  return new GridironError("BUNDLE_INVALID", `bundle "${bundle}": ${message}`, { bundle, ...context });
}

export function asGridironError(err: unknown, fallbackCode: ErrorCode = "INTERNAL"): GridironError {
  if (err instanceof GridironError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new GridironError(fallbackCode, message, {}, { cause: err });
}
