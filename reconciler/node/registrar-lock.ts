// Which registrar lock a registrar contends for: the GridironLock object in Restate, or a
// Kubernetes Lease (--registrar-lock).
import type { Logger } from "pino";
import { callableUrl } from "../core/address.ts";
import type { HttpClient } from "../core/http-client.ts";
import { RegistrarLock } from "./cluster.ts";
import { LeaseLock } from "./lease.ts";
import type { Options } from "./options.ts";

type LockOptions = Pick<Options, "nodeName" | "registrarLock" | "registrarLeaseName" | "registrarLeaseMs" | "restateIngressUrl" | "host" | "ingressPort">;

export async function lockFor(o: LockOptions, http: HttpClient, logger: Logger): Promise<RegistrarLock | LeaseLock> {
  const holder = o.nodeName || undefined;
  if (o.registrarLock === "restate") return new RegistrarLock({ ingressUrl: o.restateIngressUrl || callableUrl(o.host, o.ingressPort), ttlMs: o.registrarLeaseMs, http, logger, holder });
  // Loaded only here: the Kubernetes client is large, and only a registrar in Kubernetes needs it.
  const { kubernetesLeaseApi, leaseNamespace } = await import("./kubernetes-lease.ts");
  const [ns, name] = o.registrarLeaseName.includes("/") ? o.registrarLeaseName.split("/", 2) : ["", o.registrarLeaseName];
  const namespace = leaseNamespace(ns!);
  return new LeaseLock({ api: kubernetesLeaseApi({ name: name!, namespace }), ttlMs: o.registrarLeaseMs, logger, holder, what: `Lease ${namespace}/${name}` });
}
