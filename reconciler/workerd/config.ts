// Plain typed description of a workerd configuration: the subset of workerd.capnp that Gridiron
// uses. buildWorkerdConfig() produces it; encode.ts is the only module that turns it into Cap'n
// Proto, so nothing else depends on generated code.

export interface WorkerdConfig {
  services: Service[];
  sockets: Socket[];
  /** V8 command-line flags for every isolate of the process (GC sizing; see build.ts). */
  v8Flags?: string[];
}

export interface Socket {
  name: string;
  /** Omitted when the address comes from `--socket-fd` / `--socket-addr` at start. */
  address?: string;
  /** Plain HTTP; Gridiron never terminates TLS in workerd. */
  http: Record<string, never>;
  service: string;
  /** A named export of the service's main module, instead of its default export. */
  entrypoint?: string;
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
  | { name: string; service: string }
  /** workerd's Worker Loader (needs `--experimental`): loads workers from code at run time. */
  | { name: string; workerLoader: Record<string, never> };
