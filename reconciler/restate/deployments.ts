// Restate's deployments → the versions we registered. A deployment is ours when its URI points
// into one of our workerd cells: http://<host>:<cell port>/<service>/<version>/.
import { checkServiceName, isVersionId } from "../source/names.ts";
import type { Deployment } from "./admin.ts";
import { parseRampSegment, rampSegment, type Ramp } from "./ramp.ts";

/**
 * `/<service>/<version>/`, or with a registration tag `/<service>/<version>/<tag>/`: Restate never
 * makes a re-registered URI the latest again, so a rollback to a version that is still registered
 * registers it under a fresh tag. The router routes on the first two segments and the SDK reads
 * its route from the end of the path, so the tag changes nothing else.
 */
export const deploymentUri = (baseUrl: string, service: string, version: string, tag?: string): string =>
  `${baseUrl}/${service}/${version}/${tag ? `${tag}/` : ""}`;

const TAG_RE = /^r[0-9a-z]{1,16}$/;

/** A ramp between two versions (restate/ramp.ts): `/<service>/ramp~<old>~<new>~<weight>/`. */
export const rampUri = (baseUrl: string, service: string, ramp: Ramp): string => `${baseUrl}/${service}/${rampSegment(ramp)}/`;

/** A ramp counts as a deployment of its new version (`version`), with the ramp in `ramp`. */
export function parseDeploymentUri(baseUrl: string, uri: string): { service: string; version: string; tag?: string; ramp?: Ramp } | null {
  const prefix = `${baseUrl}/`;
  if (!uri.startsWith(prefix)) return null;
  const m = /^([^/]+)\/([^/]+)\/(?:([^/]+)\/)?$/.exec(uri.slice(prefix.length));
  if (!m || checkServiceName(m[1]!) !== null) return null;
  const ramp = m[3] === undefined ? parseRampSegment(m[2]!) : null;
  if (ramp) return { service: m[1]!, version: ramp.to, ramp };
  if (!isVersionId(m[2]!)) return null;
  if (m[3] !== undefined && !TAG_RE.test(m[3])) return null;
  return m[3] === undefined ? { service: m[1]!, version: m[2]! } : { service: m[1]!, version: m[2]!, tag: m[3] };
}

export interface OurDeployment {
  service: string;
  version: string;
  /** The cell (workerd process) its URI points at: the index of the matching base URL. */
  cell: number;
  deploymentId: string;
  createdAt: string;
  uri: string;
  restateServices: string[];
  metadata: Record<string, string>;
  /** A ramp deployment: invocations split between `ramp.from` and `version` (= `ramp.to`). */
  ramp?: Ramp;
}

/** Deployments whose URI points into one of our cells; `cellUrls[i]` is cell i's base URL. */
export function ourDeployments(cellUrls: readonly string[], deployments: readonly Deployment[]): OurDeployment[] {
  const out: OurDeployment[] = [];
  for (const d of deployments) {
    for (const [cell, base] of cellUrls.entries()) {
      const ref = parseDeploymentUri(base, d.uri);
      if (!ref) continue;
      out.push({ service: ref.service, version: ref.version, cell, deploymentId: d.id, uri: d.uri, createdAt: d.createdAt, restateServices: d.services.map((s) => s.name), metadata: d.metadata, ...(ref.ramp ? { ramp: ref.ramp } : {}) });
      break;
    }
  }
  return out;
}
