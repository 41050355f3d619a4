// Where the source maps of a stack's frames come from: a bundle still in memory (validation), or
// the version store (what serves). The mapping itself is pure and lives in stack.ts.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { SourceMapPayload } from "node:module";
import { findSourceMap, parseModuleSourceUrl, type SourceMapLookup } from "./stack.ts";

const decoder = new TextDecoder("utf-8", { fatal: false });

/** Source maps of one bundle in memory; frames name its modules bare or as `<service>/<version>/<module>`. */
export function bundleSourceMaps(service: string, version: string, files: ReadonlyMap<string, Uint8Array>): SourceMapLookup {
  const read = (path: string) => {
    const bytes = files.get(path);
    return bytes === undefined ? undefined : decoder.decode(bytes);
  };
  return (file) => {
    const named = parseModuleSourceUrl(file);
    if (named && (named.service !== service || named.version !== version)) return undefined;
    return findSourceMap(named?.module ?? file, read);
  };
}

/**
 * Source maps of the stored versions, read on demand from `<versionsDir>/<service>/<version>/bundle/`
 * and kept for the last few versions asked about (stored versions never change). Reads are
 * synchronous: they happen only for a stack that names a stored version, and a log event must not
 * wait behind later ones.
 */
export function storeSourceMaps(versionsDir: string, keep = 8): SourceMapLookup {
  const cache = new Map<string, SourceMapPayload | null>();
  return (file) => {
    const named = parseModuleSourceUrl(file);
    if (!named || named.module.split("/").includes("..")) return undefined;
    const key = file;
    if (cache.has(key)) {
      const hit = cache.get(key)!;
      cache.delete(key);
      cache.set(key, hit);
      return hit ?? undefined;
    }
    const bundleDir = join(versionsDir, named.service, named.version, "bundle");
    const read = (path: string) => {
      try {
        return readFileSync(join(bundleDir, path), "utf8");
      } catch {
        return undefined;
      }
    };
    const map = findSourceMap(named.module, read) ?? null;
    cache.set(key, map);
    while (cache.size > keep) cache.delete(cache.keys().next().value!);
    return map ?? undefined;
  };
}
