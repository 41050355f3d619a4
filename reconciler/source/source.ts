// The contract between sources and the reconciler: an artifact is a directory of bundles at a
// revision. Nothing downstream knows whether the bytes came from a folder or from git.
export interface Artifact {
  /** Human-readable revision, e.g. "folder:/srv/bundles" or "main@sha1:…". */
  revision: string;
  /** Directory holding one bundle per subdirectory; valid until the next fetch. */
  dir: string;
}

/** A folder's revision: a folder has no history, so its revision is its path. */
export function folderRevision(dir: string): string {
  return `folder:${dir}`;
}

/**
 * Whether a source's revision tells a reader more than its kind and location do (a git commit
 * does; a folder's revision only repeats its path), so output shows it only then.
 * status-page.client.js, which cannot import this, applies the same test.
 */
export function revisionIsInformative(source: { kind: string; location: string; revision?: string }): boolean {
  if (!source.revision) return false;
  return !(source.kind === "folder" && source.revision === folderRevision(source.location));
}

export interface Source {
  readonly kind: string;
  /** Where the desired state lives (a path or a URL), for status and logs. */
  readonly location: string;
  fetch(signal?: AbortSignal): Promise<Artifact>;
  /** Calls onChange when the desired state may have changed; resolves to a stop function. */
  watch(onChange: (reason: string) => void): Promise<() => Promise<void>>;
}
