// Why each service's bundle in the source is not what serves, as status shows it: set by every
// path that refuses a bundle or version, cleared once the desired version serves or the bundle
// leaves the source. The transition time changes only when the reason does.
import type { Logger } from "pino";
import type { GridironError } from "../core/errors.ts";

export interface ServiceError {
  code: string;
  message: string;
  hint: string;
  since: string;
}

export class ServiceErrors extends Map<string, ServiceError> {
  readonly #log: Logger;

  constructor(log: Logger) {
    super();
    this.#log = log;
  }

  note(service: string, e: GridironError): void {
    const prev = this.get(service);
    // Logged when the reason changes, not on every resync that sees the same bad bundle.
    if (prev?.message !== e.message) this.#log.warn({ service, err: e.toJSON() }, "bundle rejected; what serves is untouched");
    const since = prev && prev.message === e.message ? prev.since : new Date().toISOString();
    this.set(service, { code: e.code, message: e.message, hint: e.hint, since });
  }

  /** After a pass: a service whose desired version serves, or that left the source, has no error left. */
  settle(desired: Iterable<string>, held: ReadonlySet<string>, present: (service: string) => boolean): void {
    for (const service of desired) if (!held.has(service)) this.delete(service);
    for (const service of this.keys()) if (!present(service)) this.delete(service);
  }
}
