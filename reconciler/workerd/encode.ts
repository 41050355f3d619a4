// WorkerdConfig <-> workerd's binary config (an unpacked, stream-framed Cap'n Proto message whose
// root is `Config` from workerd.capnp), for `workerd serve --binary <file|->`.
//
// This is the only module that imports the generated code in ./_capnp/ (see scripts/gen-capnp.sh).
// Every union is handled by an explicit switch; anything this file does not know (a variant, or a
// field added to config.ts but not to this file) is an Error naming the service/module/socket,
// never silently dropped (the shape checks are in config-shape.ts).
//
// decodeWorkerdConfig exists for tests and debugging. It returns the canonical form: optional
// fields that equal workerd's defaults are omitted (`writable: false`, an empty socket address),
// and every list is present (possibly empty).

import { Message } from "capnp-ts";
// Not re-exported by capnp-ts's index; the package has no "exports" map, so the deep path is fine.
import { SingleSegmentArena } from "capnp-ts/src/serialization/arena/index.js";
import * as C from "./_capnp/workerd.capnp.ts";
import type { Binding, Module, Service, Socket, Worker, WorkerdConfig } from "./config.ts";
import { checkArray, checkBytes, checkKeys, checkString, unreachable, variantOf } from "./config-shape.ts";

type ServiceKind = "worker" | "network" | "disk";
type ModuleKind = "esModule" | "commonJsModule" | "text" | "data" | "wasm" | "json";
type BindingKind = "text" | "json" | "service" | "workerLoader";
type Variant<U, K extends PropertyKey> = Extract<U, Record<K, unknown>>;

const SERVICE_KINDS: readonly ServiceKind[] = ["worker", "network", "disk"];
const MODULE_KINDS: readonly ModuleKind[] = ["esModule", "commonJsModule", "text", "data", "wasm", "json"];
const BINDING_KINDS: readonly BindingKind[] = ["text", "json", "service", "workerLoader"];

// ---------------------------------------------------------------------------------------------
// Encode

export function encodeWorkerdConfig(config: WorkerdConfig): Uint8Array {
  checkKeys(config, ["services", "sockets"], ["v8Flags"], "workerd config");
  checkArray(config.services, "workerd config: services");
  checkArray(config.sockets, "workerd config: sockets");

  // capnp-ts grows a single-segment arena by exactly what each allocation lacks, copying the
  // whole buffer every time: quadratic in the number of large modules. Reserving an upper bound
  // up front makes it one allocation; only the used part is emitted.
  const message = new Message(new SingleSegmentArena(new ArrayBuffer(sizeBound(config))));
  const root = message.initRoot(C.Config);

  const services = root.initServices(config.services.length);
  config.services.forEach((service, i) => encodeService(service, services.get(i)));

  const sockets = root.initSockets(config.sockets.length);
  config.sockets.forEach((socket, i) => encodeSocket(socket, sockets.get(i)));

  if (config.v8Flags !== undefined && config.v8Flags.length > 0) setTextList(config.v8Flags, (n) => root.initV8Flags(n), "workerd config: v8Flags");

  return new Uint8Array(message.toArrayBuffer());
}

function encodeService(src: Service, dst: C.Service): void {
  const where = `service ${JSON.stringify(src?.name)}`;
  checkString(src?.name, `${where}: name`);
  const kind = variantOf(src, SERVICE_KINDS, where);
  checkKeys(src, ["name", kind], [], where);
  dst.setName(src.name);
  switch (kind) {
    case "worker":
      encodeWorker((src as Variant<Service, "worker">).worker, dst.initWorker(), where);
      return;
    case "network": {
      const network = (src as Variant<Service, "network">).network;
      checkKeys(network, ["allow"], ["deny"], `${where}: network`);
      const out = dst.initNetwork();
      setTextList(network.allow, (n) => out.initAllow(n), `${where}: network.allow`);
      if (network.deny !== undefined) {
        setTextList(network.deny, (n) => out.initDeny(n), `${where}: network.deny`);
      }
      return;
    }
    case "disk": {
      const disk = (src as Variant<Service, "disk">).disk;
      checkKeys(disk, ["path"], ["writable"], `${where}: disk`);
      checkString(disk.path, `${where}: disk.path`);
      const out = dst.initDisk();
      out.setPath(disk.path);
      if (disk.writable !== undefined) {
        if (typeof disk.writable !== "boolean") throw new Error(`${where}: disk.writable must be a boolean`);
        out.setWritable(disk.writable);
      }
      return;
    }
    default:
      return unreachable(kind, where);
  }
}

function encodeWorker(src: Worker, dst: C.Worker, where: string): void {
  checkKeys(src, ["modules", "compatibilityDate", "compatibilityFlags", "bindings"], ["globalOutbound"], where);
  checkArray(src.modules, `${where}: modules`);
  if (src.modules.length === 0) throw new Error(`${where}: a worker needs at least one module`);
  checkString(src.compatibilityDate, `${where}: compatibilityDate`);
  checkArray(src.bindings, `${where}: bindings`);

  const modules = dst.initModules(src.modules.length);
  src.modules.forEach((module, i) => encodeModule(module, modules.get(i), where));
  dst.setCompatibilityDate(src.compatibilityDate);
  setTextList(src.compatibilityFlags, (n) => dst.initCompatibilityFlags(n), `${where}: compatibilityFlags`);
  const bindings = dst.initBindings(src.bindings.length);
  src.bindings.forEach((binding, i) => encodeBinding(binding, bindings.get(i), where));
  if (src.globalOutbound !== undefined) {
    checkString(src.globalOutbound, `${where}: globalOutbound`);
    dst.initGlobalOutbound().setName(src.globalOutbound);
  }
}

function encodeModule(src: Module, dst: C.Worker_Module, serviceWhere: string): void {
  const where = `${serviceWhere}, module ${JSON.stringify(src?.name)}`;
  checkString(src?.name, `${where}: name`);
  const kind = variantOf(src, MODULE_KINDS, where);
  checkKeys(src, ["name", kind], [], where);
  dst.setName(src.name);
  switch (kind) {
    case "esModule":
      dst.setEsModule(checkString((src as Variant<Module, "esModule">).esModule, where));
      return;
    case "commonJsModule":
      dst.setCommonJsModule(checkString((src as Variant<Module, "commonJsModule">).commonJsModule, where));
      return;
    case "text":
      dst.setText(checkString((src as Variant<Module, "text">).text, where));
      return;
    case "json":
      dst.setJson(checkString((src as Variant<Module, "json">).json, where));
      return;
    case "data": {
      const bytes = checkBytes((src as Variant<Module, "data">).data, where);
      dst.initData(bytes.byteLength).copyBuffer(bytes);
      return;
    }
    case "wasm": {
      const bytes = checkBytes((src as Variant<Module, "wasm">).wasm, where);
      dst.initWasm(bytes.byteLength).copyBuffer(bytes);
      return;
    }
    default:
      return unreachable(kind, where);
  }
}

function encodeBinding(src: Binding, dst: C.Worker_Binding, serviceWhere: string): void {
  const where = `${serviceWhere}, binding ${JSON.stringify(src?.name)}`;
  checkString(src?.name, `${where}: name`);
  const kind = variantOf(src, BINDING_KINDS, where);
  checkKeys(src, ["name", kind], [], where);
  dst.setName(src.name);
  switch (kind) {
    case "text":
      dst.setText(checkString((src as Variant<Binding, "text">).text, where));
      return;
    case "json":
      dst.setJson(checkString((src as Variant<Binding, "json">).json, where));
      return;
    case "service":
      dst.initService().setName(checkString((src as Variant<Binding, "service">).service, where));
      return;
    case "workerLoader": {
      const loader = (src as Variant<Binding, "workerLoader">).workerLoader;
      if (typeof loader !== "object" || loader === null || Object.keys(loader).length !== 0) throw new Error(`${where}: workerLoader must be {}`);
      dst.initWorkerLoader();
      return;
    }
    default:
      return unreachable(kind, where);
  }
}

function encodeSocket(src: Socket, dst: C.Socket): void {
  const where = `socket ${JSON.stringify(src?.name)}`;
  checkString(src?.name, `${where}: name`);
  checkKeys(src, ["name", "http", "service"], ["address", "entrypoint"], where);
  dst.setName(src.name);
  if (src.address !== undefined) {
    checkString(src.address, `${where}: address`);
    if (src.address === "") throw new Error(`${where}: address is empty; omit it instead`);
    dst.setAddress(src.address);
  }
  // Plain HTTP with workerd's default HttpOptions; Gridiron has no other socket kind.
  if (typeof src.http !== "object" || src.http === null || Object.keys(src.http).length !== 0) {
    throw new Error(`${where}: http must be {} (HTTP options are not supported)`);
  }
  dst.initHttp();
  const service = dst.initService();
  service.setName(checkString(src.service, `${where}: service`));
  if (src.entrypoint !== undefined) service.setEntrypoint(checkString(src.entrypoint, `${where}: entrypoint`));
}

/**
 * Upper bound, in bytes, of the encoded message (word padding, pointers, struct bodies), so the
 * arena is allocated once. Tolerates malformed input (the encoder reports it afterwards); if the
 * bound is ever too small the arena still grows, just slower.
 */
function sizeBound(config: WorkerdConfig): number {
  const STRUCT = 256; // generous: the largest struct written (Worker) is 8 + 16 * 8 bytes
  const field = (o: unknown, k: string): unknown => (typeof o === "object" && o !== null ? (o as Record<string, unknown>)[k] : undefined);
  const size = (v: unknown): number =>
    typeof v === "string" ? Buffer.byteLength(v, "utf8") + 16
    : v instanceof Uint8Array ? v.byteLength + 16
    : Array.isArray(v) ? v.reduce((n: number, x: unknown) => n + size(x) + 8, 16)
    : 0;
  const sum = (o: unknown, keys: readonly string[]): number => keys.reduce((n, k) => n + size(field(o, k)), STRUCT);
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

  let n = 4096;
  for (const service of list(config.services)) {
    n += sum(service, ["name"]);
    const worker = field(service, "worker");
    if (worker !== undefined) {
      n += sum(worker, ["compatibilityDate", "compatibilityFlags", "globalOutbound"]) + STRUCT;
      for (const m of list(field(worker, "modules"))) n += sum(m, ["name", ...MODULE_KINDS]);
      for (const b of list(field(worker, "bindings"))) n += sum(b, ["name", ...BINDING_KINDS]) + STRUCT;
    }
    n += sum(field(service, "network"), ["allow", "deny"]) + sum(field(service, "disk"), ["path"]);
  }
  for (const socket of list(config.sockets)) n += sum(socket, ["name", "address", "service", "entrypoint"]) + 2 * STRUCT;
  n += sum(config, ["v8Flags"]);
  return Math.ceil((n + (n >> 4)) / 8) * 8; // the arena wants whole words
}

function setTextList(values: string[], init: (n: number) => { set(i: number, v: string): void }, where: string): void {
  checkArray(values, where);
  const list = init(values.length);
  values.forEach((v, i) => list.set(i, checkString(v, `${where}[${i}]`)));
}

// ---------------------------------------------------------------------------------------------
// Decode

export function decodeWorkerdConfig(bytes: Uint8Array): WorkerdConfig {
  // Unpacked, as workerd reads it. Message copies the bytes out of the view.
  const root = new Message(bytes, false).getRoot(C.Config);
  return {
    services: root.getServices().map(decodeService),
    sockets: root.getSockets().map(decodeSocket),
    ...(root.getV8Flags().getLength() > 0 ? { v8Flags: root.getV8Flags().toArray() } : {}),
  };
}

function decodeService(src: C.Service): Service {
  const name = src.getName();
  const where = `service ${JSON.stringify(name)}`;
  const which = src.which();
  switch (which) {
    case C.Service_Which.WORKER:
      return { name, worker: decodeWorker(src.getWorker(), where) };
    case C.Service_Which.NETWORK: {
      const network = src.getNetwork();
      const out: { allow: string[]; deny?: string[] } = { allow: network.getAllow().toArray() };
      if (network.hasDeny()) out.deny = network.getDeny().toArray();
      if (network.hasTlsOptions()) throw new Error(`${where}: network.tlsOptions is not supported`);
      return { name, network: out };
    }
    case C.Service_Which.DISK: {
      const disk = src.getDisk();
      if (disk.getAllowDotfiles()) throw new Error(`${where}: disk.allowDotfiles is not supported`);
      return { name, disk: disk.getWritable() ? { path: disk.getPath(), writable: true } : { path: disk.getPath() } };
    }
    default:
      throw new Error(`${where}: unsupported service kind ${C.Service_Which[which] ?? which}`);
  }
}

function decodeWorker(src: C.Worker, where: string): Worker {
  const which = src.which();
  if (which !== C.Worker_Which.MODULES) {
    throw new Error(`${where}: unsupported worker kind ${C.Worker_Which[which] ?? which}`);
  }
  const out: Worker = {
    modules: src.getModules().map((m) => decodeModule(m, where)),
    compatibilityDate: src.getCompatibilityDate(),
    compatibilityFlags: src.getCompatibilityFlags().toArray(),
    bindings: src.getBindings().map((b) => decodeBinding(b, where)),
  };
  if (src.hasGlobalOutbound()) out.globalOutbound = src.getGlobalOutbound().getName();
  return out;
}

function decodeModule(src: C.Worker_Module, serviceWhere: string): Module {
  const name = src.getName();
  const which = src.which();
  switch (which) {
    case C.Worker_Module_Which.ES_MODULE:
      return { name, esModule: src.getEsModule() };
    case C.Worker_Module_Which.COMMON_JS_MODULE:
      return { name, commonJsModule: src.getCommonJsModule() };
    case C.Worker_Module_Which.TEXT:
      return { name, text: src.getText() };
    case C.Worker_Module_Which.JSON:
      return { name, json: src.getJson() };
    case C.Worker_Module_Which.DATA:
      return { name, data: src.getData().toUint8Array().slice() };
    case C.Worker_Module_Which.WASM:
      return { name, wasm: src.getWasm().toUint8Array().slice() };
    default:
      throw new Error(
        `${serviceWhere}, module ${JSON.stringify(name)}: unsupported module kind ${C.Worker_Module_Which[which] ?? which}`,
      );
  }
}

function decodeBinding(src: C.Worker_Binding, serviceWhere: string): Binding {
  const name = src.getName();
  const which = src.which();
  switch (which) {
    case C.Worker_Binding_Which.TEXT:
      return { name, text: src.getText() };
    case C.Worker_Binding_Which.JSON:
      return { name, json: src.getJson() };
    case C.Worker_Binding_Which.SERVICE:
      return { name, service: src.getService().getName() };
    case C.Worker_Binding_Which.WORKER_LOADER:
      return { name, workerLoader: {} };
    default:
      throw new Error(
        `${serviceWhere}, binding ${JSON.stringify(name)}: unsupported binding kind ${C.Worker_Binding_Which[which] ?? which}`,
      );
  }
}

function decodeSocket(src: C.Socket): Socket {
  const name = src.getName();
  const which = src.which();
  if (which !== C.Socket_Which.HTTP) {
    throw new Error(`socket ${JSON.stringify(name)}: unsupported socket kind ${C.Socket_Which[which] ?? which}`);
  }
  const address = src.getAddress();
  const service = src.getService().getName();
  const entrypoint = src.getService().getEntrypoint();
  return { name, ...(address === "" ? {} : { address }), http: {}, service, ...(entrypoint === "" ? {} : { entrypoint }) };
}
