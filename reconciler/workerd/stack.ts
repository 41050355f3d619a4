// Stack traces from workerd, mapped back to the sources a bundle was built from. Pure: the caller
// says where a module's source map is (from a bundle in memory, or from the version store), this
// module only reads stack text and source map JSON.
//
// workerd names a module in a stack frame by its `//# sourceURL`, which Gridiron sets to
// `<service>/<version>/<module>` (moduleSourceUrl), so a frame says which version it ran in
// even when every version has an `index.js`. Two frame shapes occur: V8's
// `    at fn (index.js:12:5)` / `    at index.js:12:5`, and workerd's own start-up trace
// `  at index.js:12:5 in fn`.
import { SourceMap, type SourceMapPayload } from "node:module";

/** The name a module is compiled under, so its stack frames name the version it belongs to. */
export const moduleSourceUrl = (service: string, version: string, module: string): string => `${service}/${version}/${module}`;

/** Appended to an ES module's text when it is handed to workerd (moduleSourceUrl). */
export const sourceUrlComment = (service: string, version: string, module: string): string => `\n//# sourceURL=${moduleSourceUrl(service, version, module)}\n`;

/** A location in a stack frame: the file as the frame names it, 1-based line and column. */
export interface FrameLocation {
  file: string;
  line: number;
  column: number;
}

/** A generated location mapped to its original source: the source path as the map names it. */
export interface OriginalLocation extends FrameLocation {
  name?: string;
}

/** `at <file>:<line>:<col>`, bare or in parentheses, on a line that starts (after blanks) with "at ". */
const FRAME_LINE = /^\s+at\s/;
const LOCATION = /(\(|\bat )((?:[^\s()]+?)):(\d+):(\d+)(?=\)|\s|$)/g;

/** The locations named by the frames of a stack, in order (lines that are not frames are skipped). */
export function frameLocations(stack: string): FrameLocation[] {
  const out: FrameLocation[] = [];
  for (const line of stack.split("\n")) {
    if (!FRAME_LINE.test(line)) continue;
    for (const m of line.matchAll(LOCATION)) out.push({ file: m[2]!, line: Number(m[3]), column: Number(m[4]) });
  }
  return out;
}

/** `<service>/<version>/<module>` as moduleSourceUrl wrote it, or undefined for any other name. */
export function parseModuleSourceUrl(file: string): { service: string; version: string; module: string } | undefined {
  const m = /^([a-z0-9][a-z0-9-]*)\/([A-Za-z0-9][A-Za-z0-9._-]*-[0-9a-f]{12})\/(.+)$/.exec(file);
  return m ? { service: m[1]!, version: m[2]!, module: m[3]! } : undefined;
}

/** Where a frame's file's source map is: its payload, or undefined when there is none. */
export type SourceMapLookup = (file: string) => SourceMapPayload | undefined;

/**
 * One location through a source map. Only an exact hit on the generated line counts: Node's
 * findEntry otherwise answers with the nearest earlier mapping, which may be lines away.
 */
export function mapLocation(map: SourceMap, line: number, column: number): OriginalLocation | undefined {
  const e = map.findEntry(line - 1, column - 1) as Partial<{ generatedLine: number; originalSource: string; originalLine: number; originalColumn: number; name: string }>;
  if (e.originalSource === undefined || e.generatedLine !== line - 1 || e.originalLine === undefined || e.originalColumn === undefined) return undefined;
  return { file: e.originalSource, line: e.originalLine + 1, column: e.originalColumn + 1, ...(e.name ? { name: e.name } : {}) };
}

/**
 * The stack with every frame whose file has a source map rewritten to the original source
 * (`at explode (services/shop/index.ts:12:5)`). Frames without a map, or whose position the map
 * does not cover, are left as they were; so is every line that is not a frame.
 */
export function mapStack(stack: string, lookup: SourceMapLookup): string {
  const maps = new Map<string, SourceMap | null>();
  const mapFor = (file: string): SourceMap | null => {
    if (!maps.has(file)) {
      let map: SourceMap | null = null;
      try {
        const payload = lookup(file);
        if (payload) map = new SourceMap(payload);
      } catch {
        map = null; // an unreadable or malformed map: the frame stays as workerd wrote it
      }
      maps.set(file, map);
    }
    return maps.get(file)!;
  };
  return stack.split("\n").map((line) => {
    if (!FRAME_LINE.test(line)) return line;
    return line.replace(LOCATION, (whole, lead: string, file: string, l: string, c: string) => {
      const map = mapFor(file);
      const original = map ? mapLocation(map, Number(l), Number(c)) : undefined;
      return original ? `${lead}${original.file}:${original.line}:${original.column}` : whole;
    });
  }).join("\n");
}

const SOURCE_MAPPING_URL = /\/\/[#@] sourceMappingURL=(\S+)\s*$/;

/**
 * The source map of one module of a bundle: the file its `//# sourceMappingURL` names (relative to
 * the module, or an inline base64 data URL), else `<module>.map` beside it. `read` returns a
 * bundle file's text by bundle-relative path, or undefined when there is no such file.
 */
export function findSourceMap(module: string, read: (path: string) => string | undefined): SourceMapPayload | undefined {
  const code = read(module);
  if (code === undefined) return undefined;
  const url = SOURCE_MAPPING_URL.exec(code.slice(-4096))?.[1];
  let text: string | undefined;
  if (url?.startsWith("data:")) {
    const comma = url.indexOf(",");
    text = comma < 0 ? undefined : /;base64$/.test(url.slice(0, comma)) ? Buffer.from(url.slice(comma + 1), "base64").toString("utf8") : decodeURIComponent(url.slice(comma + 1));
  } else {
    const dir = module.includes("/") ? module.slice(0, module.lastIndexOf("/") + 1) : "";
    const rel = url && !/^[a-z]+:/i.test(url) && !url.startsWith("/") ? normalize(dir + url) : undefined;
    text = (rel !== undefined ? read(rel) : undefined) ?? read(`${module}.map`);
  }
  if (text === undefined) return undefined;
  try {
    const payload = JSON.parse(text) as SourceMapPayload;
    return typeof payload === "object" && payload !== null && typeof payload.mappings === "string" ? withSourceRoot(payload) : undefined;
  } catch {
    return undefined;
  }
}

/** Folds `sourceRoot` into each source, so a mapped frame names the whole path. */
function withSourceRoot(p: SourceMapPayload): SourceMapPayload {
  if (!p.sourceRoot) return p;
  const root = p.sourceRoot.endsWith("/") ? p.sourceRoot : `${p.sourceRoot}/`;
  return { ...p, sourceRoot: "", sources: p.sources.map((s) => (/^[a-z]+:|^\//i.test(s) ? s : root + s)) };
}

/** Resolves `.` and `..` segments of a bundle-relative path; undefined if it leaves the bundle. */
function normalize(path: string): string | undefined {
  const out: string[] = [];
  for (const seg of path.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (out.length === 0) return undefined;
      out.pop();
    } else out.push(seg);
  }
  return out.join("/");
}
