// Builds workerd's config as plain typed objects from the versions that must be served. Pure:
// bytes in, objects out; encode.ts turns the result into Cap'n Proto.
//
// What bundle code can touch is decided here: a version's worker gets its own modules, its text
// vars and nothing else (no disk service, no binding to another version or to the router), and its
// global fetch()/connect() go to a network service shaped by the outbound policy. The router gets
// the request identity public keys and no network at all.
import type { BundleSpec } from "../bundle.ts";
import { isPublicKeyV1 } from "../identity.ts";
import { DEFAULT_COMPATIBILITY_DATE } from "../manifest.ts";
import type { Binding, Module, Service, WorkerdConfig } from "./config.ts";

export interface ServedVersion {
  spec: BundleSpec;
  files: ReadonlyMap<string, Uint8Array>;
}

export const ROUTER_SERVICE = "gridiron-router";
export const HTTP_SOCKET = "http";
/** Network service behind every version's global fetch(); shaped by the outbound policy. */
export const OUTBOUND_SERVICE = "gridiron-outbound";
/** Network service that allows nothing: the router's global fetch(). */
export const NO_NETWORK_SERVICE = "gridiron-no-network";
/** JSON binding of the router: `{"keys": ["publickeyv1_…"]}`, or `{"keys": null}` (not verified). */
export const IDENTITY_BINDING = "GRIDIRON_REQUEST_IDENTITY";

/**
 * What a bundle's fetch() may reach. workerd's names: "public" is every address outside the
 * private and local ranges (so 127.0.0.0/8, 10/8, 192.168/16, ::1, unix sockets, and names that
 * resolve to them are refused); "private" is the rest.
 */
export type OutboundPolicy = "public" | "none" | "all";
export const OUTBOUND_POLICIES: readonly OutboundPolicy[] = ["public", "none", "all"];
const NETWORKS: Record<OutboundPolicy, { allow: string[] }> = {
  public: { allow: ["public"] },
  none: { allow: [] },
  all: { allow: ["public", "private"] },
};

export interface WorkerdPolicy {
  /**
   * Restate request identity public keys (`publickeyv1_…`) the router accepts; null turns the
   * check off (any request on workerd's socket reaches the services).
   */
  identityKeys: readonly string[] | null;
  outbound: OutboundPolicy;
}

/**
 * Vars every version gets unless its bundle sets them. The Restate SDK logs two INFO lines per
 * invocation; through workerd's stdout into the daemon's log that cost ~10% of workerd's CPU per
 * call in the benchmark. A bundle that wants them sets RESTATE_LOGGING itself.
 */
export const DEFAULT_VARS: Readonly<Record<string, string>> = { RESTATE_LOGGING: "WARN" };

export const workerServiceName = (service: string, version: string): string => `v/${service}/${version}`;
export const routeName = (service: string, version: string): string => `${service}/${version}`;

const decoder = new TextDecoder("utf-8", { fatal: false });

function toModule(name: string, type: BundleSpec["modules"][number]["type"], bytes: Uint8Array): Module {
  switch (type) {
    case "esModule":
      return { name, esModule: decoder.decode(bytes) };
    case "commonJsModule":
      return { name, commonJsModule: decoder.decode(bytes) };
    case "wasm":
      return { name, wasm: bytes };
    case "json":
      return { name, json: decoder.decode(bytes) };
    case "text":
      return { name, text: decoder.decode(bytes) };
    case "data":
      return { name, data: bytes };
  }
}

export function buildWorkerdConfig(versions: readonly ServedVersion[], routerSource: string, policy: WorkerdPolicy): WorkerdConfig {
  if (!OUTBOUND_POLICIES.includes(policy.outbound)) throw new Error(`unknown outbound policy ${JSON.stringify(policy.outbound)} (expected ${OUTBOUND_POLICIES.join(", ")})`);
  if (policy.identityKeys !== null) {
    if (policy.identityKeys.length === 0) throw new Error("request identity: no public key given (pass null to turn verification off)");
    for (const k of policy.identityKeys) {
      if (!isPublicKeyV1(k)) throw new Error(`request identity: ${JSON.stringify(k)} is not a publickeyv1_<base58> Ed25519 key`);
    }
  }
  const services: Service[] = [];
  const routes: Binding[] = [];
  for (const { spec, files } of versions) {
    const modules = spec.modules.map((m) => {
      const bytes = files.get(m.name);
      if (!bytes) throw new Error(`${spec.service}/${spec.version}: module ${m.name} missing from the stored bundle`);
      return toModule(m.name, m.type, bytes);
    });
    const name = workerServiceName(spec.service, spec.version);
    services.push({
      name,
      worker: {
        modules,
        compatibilityDate: spec.compatibilityDate,
        compatibilityFlags: [...spec.compatibilityFlags],
        bindings: Object.entries({ ...DEFAULT_VARS, ...spec.vars }).map(([k, v]) => ({ name: k, text: v })),
        globalOutbound: OUTBOUND_SERVICE,
      },
    });
    routes.push({ name: routeName(spec.service, spec.version), service: name });
  }
  services.unshift({
    name: ROUTER_SERVICE,
    worker: {
      modules: [{ name: "router.js", esModule: routerSource }],
      compatibilityDate: DEFAULT_COMPATIBILITY_DATE,
      compatibilityFlags: [],
      bindings: [...routes, { name: IDENTITY_BINDING, json: JSON.stringify({ keys: policy.identityKeys }) }],
      globalOutbound: NO_NETWORK_SERVICE,
    },
  });
  services.push(
    { name: OUTBOUND_SERVICE, network: { allow: [...NETWORKS[policy.outbound].allow] } },
    { name: NO_NETWORK_SERVICE, network: { allow: [] } },
  );
  return { services, sockets: [{ name: HTTP_SOCKET, http: {}, service: ROUTER_SERVICE }] };
}
