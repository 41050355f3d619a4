/**
 * The error registry is the one place a code gets its kind and its hint. These tests keep it
 * whole: every code is described, the constructor takes only registered codes, and no call site in
 * reconciler/ raises a code (or a kind) the registry does not agree with.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ERRORS, GridironError, asGridironError, bundleError, hintOf, isErrorCode, isSourceError, type ErrorCode } from "../../reconciler/core/errors.ts";

const ROOT = fileURLToPath(new URL("../../reconciler/", import.meta.url));
const CODES = Object.keys(ERRORS) as ErrorCode[];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === "_capnp" ? [] : sourceFiles(p);
    return e.name.endsWith(".ts") ? [p] : [];
  });
}

/** Every `pattern` match in reconciler/**\/*.ts (or under `sub`), with its file:line. */
function scan(pattern: RegExp, sub = ""): { where: string; groups: string[] }[] {
  return sourceFiles(path.join(ROOT, sub)).flatMap((file) => {
    const text = readFileSync(file, "utf8");
    return [...text.matchAll(pattern)].map((m) => ({
      where: `${path.relative(ROOT, file)}:${text.slice(0, m.index).split("\n").length}`,
      groups: m.slice(1),
    }));
  });
}

describe("the error registry", () => {
  it.each(CODES)("%s has a kind, an area and a hint", (code) => {
    const spec = ERRORS[code];
    expect(["waiting", "stalled", "failed"]).toContain(spec.kind);
    expect(spec.area).toMatch(/^[a-z]+$/);
    expect(spec.hint.trim().length).toBeGreaterThan(10);
  });

  it("spells every code in upper snake case, and keeps one config code", () => {
    for (const code of CODES) expect(code).toMatch(/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
    expect(isErrorCode("CONFIG_INVALID")).toBe(true);
    expect(isErrorCode("CONFIG")).toBe(false);
  });

  it("source errors are the SOURCE_ codes, as callers tested before the registry", () => {
    for (const code of CODES) expect(isSourceError({ code }), code).toBe(code.startsWith("SOURCE"));
    expect(isSourceError({ code: "SOURCE_FROM_A_NEWER_BUILD" })).toBe(false);
  });

  it("hintOf answers for registered codes only", () => {
    expect(hintOf("SOURCE_GIT_AUTH")).toBe(ERRORS.SOURCE_GIT_AUTH.hint);
    expect(hintOf("NOT_A_CODE")).toBeUndefined();
    expect(hintOf("toString")).toBeUndefined();
  });
});

describe("GridironError", () => {
  it("takes its kind from the registry, and shows the hint in toJSON", () => {
    const e = new GridironError("SOURCE_EMPTY", "nothing to deploy", { revision: "main@sha1:abc" });
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe("GridironError");
    expect(e.kind).toBe("stalled");
    expect(new GridironError("SOURCE_GIT_FETCH", "x").kind).toBe("waiting");
    expect(new GridironError("INTERNAL", "x").kind).toBe("failed");
    expect(e.toJSON()).toEqual({
      code: "SOURCE_EMPTY",
      kind: "stalled",
      message: "nothing to deploy",
      hint: ERRORS.SOURCE_EMPTY.hint,
      context: { revision: "main@sha1:abc" },
    });
  });

  it("keeps a cause and defaults the context to empty", () => {
    const cause = new Error("root");
    const e = new GridironError("STORE_WRITE", "cannot store", undefined, { cause });
    expect(e.cause).toBe(cause);
    expect(e.context).toEqual({});
  });

  it("takes no kind: a message that is a kind's word is the message", () => {
    const e = new GridironError("INTERNAL", "failed");
    expect(e.message).toBe("failed");
    expect(e.kind).toBe("failed");
  });

  it("refuses an unregistered code, at compile time and at run time", () => {
    // @ts-expect-error "CONFIG" was merged into CONFIG_INVALID: it is no longer a code.
    expect(() => new GridironError("CONFIG", "loader mode needs versionsDir")).toThrow(/unregistered GridironError code "CONFIG"/);
    // @ts-expect-error a free string is not an ErrorCode.
    expect(() => asGridironError(new Error("x"), "SOMETHING")).toThrow(TypeError);
  });

  it("asGridironError passes a GridironError through and wraps anything else as INTERNAL", () => {
    const own = bundleError("greeter", "bundle is empty");
    expect(asGridironError(own)).toBe(own);
    expect(own.toJSON()).toMatchObject({ code: "BUNDLE_INVALID", kind: "stalled", message: 'bundle "greeter": bundle is empty', context: { bundle: "greeter" } });
    const wrapped = asGridironError(new TypeError("boom"));
    expect(wrapped.toJSON()).toMatchObject({ code: "INTERNAL", kind: "failed", message: "boom" });
    expect(wrapped.cause).toBeInstanceOf(TypeError);
    expect(asGridironError("plain", "STORE_WRITE").code).toBe("STORE_WRITE");
  });
});

describe("call sites in reconciler/", () => {
  it("raise only registered codes", () => {
    // Helpers that take a code first (git's #error, a generation's #startError) count as call sites.
    const sites = scan(/(?:GridironError|#error|#startError)\(\s*"([^"]+)"/g);
    expect(sites.length).toBeGreaterThan(30);
    expect(sites.filter((s) => !isErrorCode(s.groups[0]!)).map((s) => `${s.where} ${s.groups[0]}`)).toEqual([]);
  });

  // A kind written beside a code could disagree with the registry: the constructor takes none,
  // and no inline { code, kind } error object is left to drift.
  it("pass no kind and build no inline error objects", () => {
    const inline = [
      ...scan(/GridironError\(\s*"([^"]+)",\s*"(waiting|stalled|failed)"/g),
      ...scan(/\{\s*code:\s*"([^"]+)",\s*kind:\s*"(waiting|stalled|failed)"/g),
    ].map((s) => `${s.where} ${s.groups[0]} ${s.groups[1]}`);
    expect(inline).toEqual([]);
  });
});
