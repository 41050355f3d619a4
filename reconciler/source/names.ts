// Service and version names end up in URL paths, directory names, workerd service names and
// Restate metadata, so they are held to the narrowest set that is safe in all four: lowercase
// ASCII letters, digits and inner hyphens (versions also allow inner dots), like a DNS label.
// docs/deploying.md#names states the rule for users, once; every other doc links there.

/** One version of one service: the unit the store keeps, workerd serves and Restate registers. */
export interface VersionRef {
  service: string;
  version: string;
}

/** "<service>/<version>": the key every stage uses for a version. */
export const keyOf = (v: VersionRef): string => `${v.service}/${v.version}`;

const SERVICE_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const LABEL_RE = /^[a-z0-9](?:[a-z0-9.-]{0,30}[a-z0-9])?$/;
const VERSION_RE = /^[a-z0-9](?:[a-z0-9.-]{0,44}[a-z0-9])?-[0-9a-f]{12}$/;
/** Bundle file paths: ASCII, no spaces or quotes, relative segments only. */
const PATH_SEGMENT_RE = /^[A-Za-z0-9_@+=,~-][A-Za-z0-9._@+=,~-]*$/;

function describe(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}

/** Returns null when valid, else a human reason. */
export function checkServiceName(name: string): string | null {
  if (SERVICE_RE.test(name)) return null;
  return `invalid service name ${describe(name)}: use 1-63 lowercase letters, digits and inner hyphens (like a DNS label)`;
}

export function checkVersionLabel(label: string): string | null {
  if (LABEL_RE.test(label) && !label.includes("..")) return null;
  return `invalid version label ${describe(label)}: use 1-32 lowercase letters, digits, inner dots and hyphens`;
}

export function isVersionId(version: string): boolean {
  return VERSION_RE.test(version) && !version.includes("..");
}

/** Checks a bundle-relative path with "/" separators. Returns null when valid, else a reason. */
export function checkBundlePath(relPath: string): string | null {
  if (relPath.length === 0) return "empty file path";
  if (relPath.length > 255) return `file path too long (${relPath.length} > 255 characters)`;
  if (relPath.startsWith("/")) return `absolute file path ${describe(relPath)}`;
  for (const segment of relPath.split("/")) {
    if (segment === "." || segment === "..") return `file path ${describe(relPath)} contains "${segment}"`;
    if (!PATH_SEGMENT_RE.test(segment)) {
      return `file path ${describe(relPath)} has characters outside [A-Za-z0-9._@+=,~-] (or starts with a dot)`;
    }
  }
  return null;
}
