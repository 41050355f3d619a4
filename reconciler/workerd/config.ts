// Plain typed description of a workerd configuration: the subset of workerd.capnp that Gridiron
// uses. buildWorkerdConfig() produces it; encode.ts is the only module that turns it into Cap'n
// Proto, so nothing else depends on generated code.

export interface WorkerdConfig {
  services: Service[];
  sockets: Socket[];
}

export interface Socket {
  name: string;
  /** Omitted when the address comes from `--socket-fd` / `--socket-addr` at start. */
  address?: string;
  /** Plain HTTP; Gridiron never terminates TLS in workerd. */
  http: Record<string, never>;
  service: string;
}

export type Service =
  | { name: string; worker: Worker }
  | { name: string; network: { allow: string[]; deny?: string[] } }
  | { name: string; disk: { path: string; writable?: boolean } };

export interface Worker {
  modules: Module[];
  compatibilityDate: string;
  compatibilityFlags: string[];
  bindings: Binding[];
  /** Name of the service that outbound fetch() goes to; workerd's default is "internet". */
  globalOutbound?: string;
}

export type Module =
  | { name: string; esModule: string }
  | { name: string; commonJsModule: string }
  | { name: string; text: string }
  | { name: string; data: Uint8Array }
  | { name: string; wasm: Uint8Array }
  | { name: string; json: string };

export type Binding =
  | { name: string; text: string }
  | { name: string; json: string }
  | { name: string; service: string };
