import { describe, expect, it } from "vitest";
import { checkBundlePath, checkServiceName, checkVersionLabel, isVersionId } from "../../reconciler/source/names.ts";

const HEX12 = "0123456789ab";

/** Inputs that must never be accepted as a service name, version label or version id. */
const HOSTILE: Array<[string, string]> = [
  ["empty", ""],
  ["dot", "."],
  ["dot-dot", ".."],
  ["slash", "/"],
  ["path a/b", "a/b"],
  ["NUL byte", "a\0b"],
  ["double quote", 'a"b'],
  ["single quote", "a'b"],
  ["newline", "a\nb"],
  ["trailing newline", "greeter\n"],
  ["tab", "a\tb"],
  ["space", "a b"],
  ["backslash", "a\\b"],
  ["Cyrillic look-alike (grееter)", "gr\u0435\u0435ter"],
  ["fullwidth letters", "\uff47\uff52\uff45\uff45\uff54\uff45\uff52"],
  ["zero-width joiner", "gree\u200dter"],
  ["uppercase", "Greeter"],
  ["leading hyphen", "-greeter"],
  ["trailing hyphen", "greeter-"],
  ["300 characters", "a".repeat(300)],
  ["percent-encoded dot-dot", "%2e%2e"],
  ["absolute path", "/etc/passwd"],
  ["traversal", "../../etc/passwd"],
  ["Windows drive path", "C:\\Windows\\system32"],
  ["Windows drive path, forward slashes", "C:/Windows"],
  ["URL", "http://x"],
  ["underscore", "my_service"],
];

describe("checkServiceName", () => {
  it.each([
    ["greeter"],
    ["counter-2"],
    ["a"],
    ["9lives"],
    ["a-b-c"],
    ["a".repeat(63)],
    [`a${"-".repeat(61)}b`],
  ])("accepts %j", (name) => {
    expect(checkServiceName(name)).toBeNull();
  });

  it.each([
    ...HOSTILE,
    ["64 characters", "a".repeat(64)],
    ["dots", "greeter.v2"],
  ])("rejects %s", (_label, name) => {
    const reason = checkServiceName(name);
    expect(reason).toEqual(expect.stringContaining("invalid service name"));
  });

  it("accepts exactly 63 characters and rejects 64", () => {
    expect(checkServiceName("x".repeat(63))).toBeNull();
    expect(checkServiceName("x".repeat(64))).not.toBeNull();
  });

  it.each([
    ["newline", "a\nb"],
    ["carriage return", "a\rb"],
    ["NUL", "a\0b"],
    ["tab", "a\tb"],
  ])("quotes the name so a %s cannot break the log line", (_label, name) => {
    const reason = checkServiceName(name)!;
    expect(reason).not.toBeNull();
    expect(reason).not.toMatch(/[\n\r\0\t]/);
    expect(reason).toContain(JSON.stringify(name));
  });

  it("truncates a very long name in the reason", () => {
    const reason = checkServiceName("b".repeat(300))!;
    expect(reason).not.toContain("b".repeat(81));
    expect(reason).toContain("b".repeat(80));
    expect(reason).toContain("…");
  });
});

describe("checkVersionLabel", () => {
  it.each([["v"], ["1"], ["1.0.0"], ["release-2"], ["v2.1-rc.1"], ["a".repeat(32)]])("accepts %j", (label) => {
    expect(checkVersionLabel(label)).toBeNull();
  });

  it.each([
    ...HOSTILE,
    ["33 characters", "a".repeat(33)],
    ["inner dot-dot", "1..0"],
    ["leading dot", ".1"],
    ["trailing dot", "1.0."],
    ["uppercase V", "V1"],
  ])("rejects %s", (_label, label) => {
    expect(checkVersionLabel(label)).toEqual(expect.stringContaining("invalid version label"));
  });
});

describe("isVersionId", () => {
  it.each([
    [`v-${HEX12}`],
    [`counter-2-${HEX12}`],
    [`1.0.0-${HEX12}`],
    [`${"a".repeat(32)}-${HEX12}`],
  ])("accepts %j", (version) => {
    expect(isVersionId(version)).toBe(true);
  });

  it.each([
    ...HOSTILE,
    ...HOSTILE.map(([label, value]): [string, string] => [`${label} + hash`, `${value}-${HEX12}`]),
    ["hash only", HEX12],
    ["hash with leading hyphen", `-${HEX12}`],
    ["uppercase hash", `v-${HEX12.toUpperCase()}`],
    ["11-digit hash", `v-${HEX12.slice(1)}`],
    ["13-digit hash", `v-${HEX12}c`],
    ["non-hex hash", "v-0123456789ag"],
    ["no hyphen before hash", `v${HEX12}`],
    ["dot-dot in label", `1..0-${HEX12}`],
    ["traversal before a valid id", `../v-${HEX12}`],
    ["traversal after a valid id", `v-${HEX12}/..`],
    ["trailing newline", `v-${HEX12}\n`],
    ["300-character label", `${"a".repeat(300)}-${HEX12}`],
  ])("rejects %s", (_label, version) => {
    expect(isVersionId(version)).toBe(false);
  });
});

describe("checkBundlePath", () => {
  it.each([
    ["index.js"],
    ["a/b"],
    ["lib/x.wasm"],
    ["Index.JS"],
    ["deep/nested/dir/mod.mjs"],
    ["a.b.c"],
    [`${"0".repeat(40)}-sdk_shared_core_wasm_bindings_bg.wasm`],
    ["@scope/pkg+x=y,z~w.js"],
    ["x".repeat(255)],
  ])("accepts %j", (path) => {
    expect(checkBundlePath(path)).toBeNull();
  });

  it.each([
    ["empty", "", /empty/],
    ["dot", ".", /"\."/],
    ["dot-dot", "..", /"\.\."/],
    ["slash", "/", /absolute/],
    ["absolute path", "/etc/passwd", /absolute/],
    ["leading traversal", "../x.js", /"\.\."/],
    ["inner traversal", "a/../../x.js", /"\.\."/],
    ["trailing traversal", "a/..", /"\.\."/],
    ["current-dir segment", "./index.js", /"\."/],
    ["inner current-dir segment", "a/./b.js", /"\."/],
    ["empty segment", "a//b.js", /characters outside/],
    ["trailing slash", "a/", /characters outside/],
    ["NUL byte", "a\0.js", /characters outside/],
    ["double quote", 'a".js', /characters outside/],
    ["single quote", "a'.js", /characters outside/],
    ["newline", "a\n.js", /characters outside/],
    ["tab", "a\t.js", /characters outside/],
    ["space", "my file.js", /characters outside/],
    ["backslash", "a\\b.js", /characters outside/],
    ["backslash traversal", "..\\..\\x.js", /characters outside/],
    ["Cyrillic look-alike", "gr\u0435\u0435ter.js", /characters outside/],
    ["fullwidth letters", "\uff49\uff4e\uff44\uff45\uff58.js", /characters outside/],
    ["zero-width joiner", "in\u200ddex.js", /characters outside/],
    ["percent-encoded dot-dot", "%2e%2e/x.js", /characters outside/],
    ["Windows drive path", "C:\\Windows\\x.js", /characters outside/],
    ["Windows drive path, forward slashes", "C:/Windows/x.js", /characters outside/],
    ["dotfile", ".env", /starts with a dot/],
    ["dotfile in a subdirectory", "a/.hidden", /starts with a dot/],
    ["256 characters", "x".repeat(256), /too long/],
    ["300 characters", "a/".repeat(150), /too long/],
  ])("rejects %s", (_label, path, reason) => {
    const problem = checkBundlePath(path);
    expect(problem).not.toBeNull();
    expect(problem).toMatch(reason);
  });

  it.each([["a\nb.js"], ["a\0b.js"], ["a\rb.js"]])("reason for %j contains no raw control characters", (path) => {
    const problem = checkBundlePath(path)!;
    expect(problem).not.toBeNull();
    expect(problem).not.toMatch(/[\n\r\0]/);
  });
});
