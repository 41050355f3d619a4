// Which lines of workerd's stdout and stderr reach Gridiron's log. Everything is forwarded as
// workerd wrote it, except a warning that is false where Gridiron serves: a log full of false
// warnings teaches operators to ignore the true ones.

/**
 * The Restate SDK's warning, written each time a bundle's endpoint is created (every load of every
 * version), that it accepts requests without checking their signatures. Gridiron's router
 * (router.js) checks every request's signature before it reaches a bundle, so while request
 * identity is on the warning is false; with --request-identity=false it is true and stays.
 * Matched on the SDK's console format, `[restate][<time>] WARN: <message>`, so a bundle that
 * merely mentions the text is not silenced.
 */
const SDK_UNSIGNED_WARNING = /^\[restate\]\[[^\]]*\] WARN: Accepting requests without validating request signatures\b/;

export interface OutputPolicy {
  /** The router verifies every request's Restate signature (request identity on). */
  routerVerifies: boolean;
}

/** Whether one line of workerd's output goes to the log. */
export function forwardLine(line: string, policy: OutputPolicy): boolean {
  return !(policy.routerVerifies && SDK_UNSIGNED_WARNING.test(line));
}
