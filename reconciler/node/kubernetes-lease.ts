// The Lease API through @kubernetes/client-node: the in-cluster service account (token re-read as
// the kubelet rotates it, the cluster CA) or, outside a pod, the kubeconfig kubectl uses. Only the
// three calls the lock needs, mapped to LeaseRecord and back.
import { readFileSync } from "node:fs";
import { ApiException, CoordinationV1Api, KubeConfig, V1MicroTime, type V1Lease } from "@kubernetes/client-node";
import type { LeaseApi, LeaseRecord } from "./lease.ts";

const NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/** The namespace to keep the Lease in: the one given, else the pod's own, else "default". */
export function leaseNamespace(given: string): string {
  if (given) return given;
  try {
    return readFileSync(NAMESPACE_FILE, "utf8").trim() || "default";
  } catch {
    return "default";
  }
}

export function kubernetesLeaseApi(o: { name: string; namespace: string; kubeConfig?: KubeConfig }): LeaseApi {
  const kc = o.kubeConfig ?? defaultKubeConfig();
  const api = kc.makeApiClient(CoordinationV1Api);
  const { name, namespace } = o;
  const guard = async (write: () => Promise<V1Lease>): Promise<LeaseRecord | "conflict"> => {
    try {
      return fromLease(await write());
    } catch (err) {
      // 409: created meanwhile, or changed since our read (resourceVersion no longer matches).
      if (err instanceof ApiException && err.code === 409) return "conflict";
      throw leaseError(err, namespace, name);
    }
  };
  return {
    async read() {
      try {
        return fromLease(await api.readNamespacedLease({ name, namespace }));
      } catch (err) {
        if (err instanceof ApiException && err.code === 404) return null;
        throw leaseError(err, namespace, name);
      }
    },
    create: (r) => guard(() => api.createNamespacedLease({ namespace, body: toLease(r, name) })),
    replace: (r) => guard(() => api.replaceNamespacedLease({ name, namespace, body: toLease(r, name) })),
  };
}

function defaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}

function leaseError(err: unknown, namespace: string, name: string): Error {
  const code = err instanceof ApiException ? err.code : undefined;
  const hint = code === 403
    ? " (the registrar's service account needs get and update on this Lease: deploy/kubernetes/gridiron-rbac.yaml)"
    : code === 401 ? " (no valid credentials: in a pod, the service account token must be mounted)" : "";
  return new Error(`Lease ${namespace}/${name}: ${code ? `HTTP ${code}` : (err as Error).message}${hint}`);
}

function fromLease(l: V1Lease): LeaseRecord {
  const s = l.spec ?? {};
  return {
    holder: s.holderIdentity ?? "",
    durationS: s.leaseDurationSeconds ?? 0,
    acquireTime: s.acquireTime ? new Date(s.acquireTime) : null,
    renewTime: s.renewTime ? new Date(s.renewTime) : null,
    transitions: s.leaseTransitions ?? 0,
    resourceVersion: l.metadata?.resourceVersion ?? null,
  };
}

function toLease(r: LeaseRecord, name: string): V1Lease {
  const micro = (d: Date | null) => (d ? new V1MicroTime(d.getTime()) : undefined);
  return {
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: { name, ...(r.resourceVersion ? { resourceVersion: r.resourceVersion } : {}) },
    spec: {
      holderIdentity: r.holder,
      leaseDurationSeconds: r.durationS,
      acquireTime: micro(r.acquireTime),
      renewTime: micro(r.renewTime),
      leaseTransitions: r.transitions,
    },
  };
}
