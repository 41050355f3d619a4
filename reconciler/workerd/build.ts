// Builds workerd's config as plain typed objects from the versions that must be served. Pure:
// bytes in, objects out; encode.ts turns the result into Cap'n Proto.
import type { BundleSpec } from "../bundle.ts";
import { DEFAULT_COMPATIBILITY_DATE } from "../manifest.ts";
import type { Binding, Module, Service, WorkerdConfig } from "./config.ts";

export interface ServedVersion {
  spec: BundleSpec;
  files: ReadonlyMap<string, Uint8Array>;
}

export const ROUTER_SERVICE = "gridiron-router";
export const HTTP_SOCKET = "http";

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

export function buildWorkerdConfig(versions: readonly ServedVersion[], routerSource: string): WorkerdConfig {
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
        bindings: Object.entries(spec.vars).map(([k, v]) => ({ name: k, text: v })),
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
      bindings: routes,
    },
  });
  return { services, sockets: [{ name: HTTP_SOCKET, http: {}, service: ROUTER_SERVICE }] };
}
