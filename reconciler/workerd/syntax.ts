// Where a bundle's syntax error is. workerd says what V8 says ("Uncaught SyntaxError: missing ) after
// argument list") and, at best, where V8 gave up; esbuild parses each JS module on its own and
// names the file, line and column of the first token it cannot accept, with its own explanation.
import * as esbuild from "esbuild";

export interface SyntaxLocation {
  /** The module, as the bundle names it. */
  file: string;
  /** 1-based, as editors count. */
  line: number;
  column: number;
  /** esbuild's explanation, e.g. `Expected ")" but found "}"`. */
  text: string;
}

export const formatSyntaxLocation = (l: SyntaxLocation): string => `${l.file}:${l.line}:${l.column}: ${l.text}`;

/** The first syntax error esbuild finds in a module's text, or undefined if it parses. */
export async function syntaxErrorIn(file: string, code: string, format: "esm" | "cjs" = "esm"): Promise<SyntaxLocation | undefined> {
  try {
    // Parsing is all that is wanted: no target lowering, no minification, nothing written.
    await esbuild.transform(code, { loader: "js", format, target: "esnext", sourcefile: file, logLevel: "silent" });
    return undefined;
  } catch (err) {
    const first = (err as { errors?: esbuild.Message[] }).errors?.[0];
    if (!first?.location) return undefined;
    return { file, line: first.location.line, column: first.location.column + 1, text: first.text };
  }
}

/** The first module, in the order given, that does not parse. */
export async function firstSyntaxError(modules: readonly { name: string; type: string; text: () => string }[]): Promise<SyntaxLocation | undefined> {
  for (const m of modules) {
    if (m.type !== "esModule" && m.type !== "commonJsModule") continue;
    const found = await syntaxErrorIn(m.name, m.text(), m.type === "esModule" ? "esm" : "cjs");
    if (found) return found;
  }
  return undefined;
}
