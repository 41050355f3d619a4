// One error type for the whole reconciler. The `kind` says what the loop should do next, so the
// decision is made once, where the error is raised, not re-derived by every caller.
//   waiting: transient (a server not up yet, a network blip) — retry later on its own;
//   stalled: needs a human (a bad bundle, an invalid name) — nothing retries until input changes;
//   failed:  an unexpected fault in Gridiron or a dependency — retried with backoff, reported.
export type ErrorKind = "waiting" | "stalled" | "failed";

export class GridironError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  /** Free-form context (bundle, file, URL, HTTP status, response body…) for logs and status. */
  readonly context: Record<string, unknown>;

  constructor(code: string, kind: ErrorKind, message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "GridironError";
    this.code = code;
    this.kind = kind;
    this.context = context;
  }

  toJSON(): { code: string; kind: ErrorKind; message: string; context: Record<string, unknown> } {
    return { code: this.code, kind: this.kind, message: this.message, context: this.context };
  }
}

/** Invalid input that will not fix itself: the bundle or manifest must change. */
export function bundleError(bundle: string, message: string, context: Record<string, unknown> = {}): GridironError {
  return new GridironError("BUNDLE_INVALID", "stalled", `bundle "${bundle}": ${message}`, { bundle, ...context });
}

export function asGridironError(err: unknown, fallbackCode = "INTERNAL"): GridironError {
  if (err instanceof GridironError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new GridironError(fallbackCode, "failed", message, {}, { cause: err });
}
