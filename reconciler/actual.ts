// Restate's deployments → the versions we registered. A deployment is ours when its URI points
// into our workerd: http://<host>:<port>/<service>/<version>/.
import { checkServiceName, isVersionId } from "./names.ts";
import type { RegisteredVersion } from "./plan.ts";
import type { Deployment } from "./restate/admin.ts";

export const deploymentUri = (baseUrl: string, service: string, version: string): string => `${baseUrl}/${service}/${version}/`;

export function parseDeploymentUri(baseUrl: string, uri: string): { service: string; version: string } | null {
  const prefix = `${baseUrl}/`;
  if (!uri.startsWith(prefix)) return null;
  const m = /^([^/]+)\/([^/]+)\/?$/.exec(uri.slice(prefix.length));
  if (!m || checkServiceName(m[1]!) !== null || !isVersionId(m[2]!)) return null;
  return { service: m[1]!, version: m[2]! };
}

export interface OurDeployment extends RegisteredVersion {
  restateServices: string[];
  metadata: Record<string, string>;
}

export function ourDeployments(baseUrl: string, deployments: readonly Deployment[]): OurDeployment[] {
  const out: OurDeployment[] = [];
  for (const d of deployments) {
    const ref = parseDeploymentUri(baseUrl, d.uri);
    if (!ref) continue;
    out.push({ ...ref, deploymentId: d.id, createdAt: d.createdAt, restateServices: d.services.map((s) => s.name), metadata: d.metadata });
  }
  return out;
}
