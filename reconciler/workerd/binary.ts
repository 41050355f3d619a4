// Where the workerd executable is: the binary of the installed `workerd` npm package.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { GridironError } from "../core/errors.ts";

/** The workerd executable of the installed npm package (its main module exports the path). */
export function resolveWorkerdBinary(): string {
  const require = createRequire(import.meta.url);
  try {
    const mod = require("workerd") as { default?: unknown };
    if (typeof mod.default === "string") return mod.default;
  } catch {
    // fall through to the package's bin entry
  }
  const pkgJson = require.resolve("workerd/package.json");
  const pkg = JSON.parse(readFileSync(pkgJson, "utf8")) as { bin?: string | Record<string, string> };
  const bin = typeof pkg.bin === "string" ? pkg.bin : pkg.bin?.["workerd"];
  if (bin === undefined) throw new GridironError("WORKERD_NOT_FOUND", `no workerd binary in ${pkgJson}`);
  return path.join(path.dirname(pkgJson), bin);
}
