// What `gridiron status`, GET /status and logs report. Written on every exit path of a pass.
import type { Action } from "./plan.ts";

export type VersionState = "serving" | "previous" | "failed" | "unservable";

export interface VersionStatus {
  version: string;
  digest?: string;
  /** Source revision the version was registered from (folder path, or branch@sha1:commit). */
  revision?: string;
  state: VersionState;
  deploymentId?: string;
  restateServices?: string[];
  registeredAt?: string;
  reason?: string;
}

export interface ServiceStatus {
  service: string;
  /** The version new calls reach (the newest registration for this service). */
  serving?: string;
  versions: VersionStatus[];
  /** Why the service's bundle in the source is not what serves (invalid, failed discovery…). */
  error?: { code: string; message: string; since: string };
}

export interface ReconcileResult {
  id: number;
  trigger: string;
  startedAt: string;
  durationMs: number;
  outcome: "ok" | "noop" | "partial" | "error";
  revision?: string;
  actions: Action[];
  /** Versions that became the ones new calls reach in this pass. */
  deployed: { service: string; version: string }[];
  errors: { code: string; kind: string; message: string }[];
}

export interface Status {
  source: { kind: string; location: string; revision?: string; error?: string };
  workerd: { url: string; pid?: number; generation: number };
  restate: { ingressUrl: string; adminUrl: string };
  services: ServiceStatus[];
  lastReconcile?: ReconcileResult;
  history: ReconcileResult[];
}
