import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_LIMITS, digestFiles, readBundle, type BundleLimits } from "../../reconciler/source/bundle.ts";
import { GridironError } from "../../reconciler/core/errors.ts";
import { DEFAULT_COMPATIBILITY_DATE, DEFAULT_COMPATIBILITY_FLAGS } from "../../reconciler/source/manifest.ts";

type Files = Record<string, string | Uint8Array>;

const INDEX = "export default { fetch() { return new Response('ok'); } };\n";
const WASM = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
const WASM_NAME = `${"3f9a".repeat(10)}-sdk_shared_core_wasm_bindings_bg.wasm`;
const VERSION_RE = /^v-[0-9a-f]{12}$/;

let root: string;
let counter = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "gridiron-bundle-test-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A fresh parent directory per call, so bundle directory names can repeat across tests. */
async function freshParent(): Promise<string> {
  const parent = join(root, `case-${++counter}`);
  await mkdir(parent);
  return parent;
}

async function writeFiles(dir: string, files: Files, order?: string[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const rel of order ?? Object.keys(files)) {
    await mkdir(dirname(join(dir, rel)), { recursive: true });
    await writeFile(join(dir, rel), files[rel]!);
  }
}

async function makeBundle(name: string, files: Files, order?: string[]): Promise<string> {
  const dir = join(await freshParent(), name);
  await writeFiles(dir, files, order);
  return dir;
}

async function expectInvalid(promise: Promise<unknown>, bundle: string, reason: RegExp | string): Promise<GridironError> {
  const err = await promise.then(
    () => {
      throw new Error("expected readBundle to reject");
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GridironError);
  const g = err as GridironError;
  expect(g.code).toBe("BUNDLE_INVALID");
  expect(g.kind).toBe("stalled");
  expect(g.message).toContain(`bundle "${bundle}"`);
  if (typeof reason === "string") expect(g.message).toContain(reason);
  else expect(g.message).toMatch(reason);
  return g;
}

const text = (bytes: Uint8Array | undefined) => Buffer.from(bytes!).toString("utf8");

describe("readBundle: accepted shapes", () => {
  it("minimal bundle: service from the directory name, default version label and compat settings", async () => {
    const dir = await makeBundle("greeter", { "index.js": INDEX });
    const { spec, files } = await readBundle(dir);
    expect(spec.service).toBe("greeter");
    expect(spec.version).toMatch(VERSION_RE);
    expect(spec.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(spec.version).toBe(`v-${spec.digest.slice("sha256:".length, "sha256:".length + 12)}`);
    expect(spec.main).toBe("index.js");
    expect(spec.compatibilityDate).toBe(DEFAULT_COMPATIBILITY_DATE);
    expect(spec.compatibilityFlags).toEqual([...DEFAULT_COMPATIBILITY_FLAGS]);
    expect(spec.compatibilityFlags).toEqual([]); // nodejs_compat is on by default from the default date
    expect(spec.vars).toEqual({});
    expect(spec.breaking).toBe(false);
    expect(spec.modules).toEqual([{ name: "index.js", type: "esModule" }]);
    expect([...files.keys()]).toEqual(["index.js"]);
    expect(text(files.get("index.js"))).toBe(INDEX);
  });

  it("a trailing slash on the directory does not change the service name", async () => {
    const dir = await makeBundle("greeter", { "index.js": INDEX });
    expect((await readBundle(`${dir}/`)).spec.service).toBe("greeter");
  });

  it("gridiron.json overrides name, version label, main, vars, compat settings and breaking", async () => {
    const manifest = {
      name: "hello",
      version: "2.0.1",
      main: "dist/worker.mjs",
      vars: { GREETING: "hi" },
      compatibilityDate: "2026-10-01",
      compatibilityFlags: ["nodejs_compat", "no_global_navigator"],
      breaking: true,
    };
    const dir = await makeBundle("Not_A_Valid_Service_Name", {
      "gridiron.json": JSON.stringify(manifest),
      "dist/worker.mjs": INDEX,
      "index.js": "// not main\n",
    });
    const { spec } = await readBundle(dir);
    expect(spec.service).toBe("hello");
    expect(spec.version).toMatch(/^2\.0\.1-[0-9a-f]{12}$/);
    expect(spec.main).toBe("dist/worker.mjs");
    expect(spec.vars).toEqual({ GREETING: "hi" });
    expect(spec.compatibilityDate).toBe("2026-10-01");
    expect(spec.compatibilityFlags).toEqual(["nodejs_compat", "no_global_navigator"]);
    expect(spec.breaking).toBe(true);
    expect(spec.modules).toEqual([
      { name: "dist/worker.mjs", type: "esModule" },
      { name: "index.js", type: "esModule" },
    ]);
  });

  it("wrangler.toml supplies compat settings and vars; its name and main are ignored; gridiron.json wins", async () => {
    const dir = await makeBundle("counter", {
      "index.js": INDEX,
      "wrangler.toml": 'name = "other"\nmain = "src/index.ts"\ncompatibility_date = "2026-09-01"\ncompatibility_flags = ["nodejs_compat"]\n[vars]\nA = "from-wrangler"\nB = 2\n',
      "gridiron.json": JSON.stringify({ vars: { A: "from-gridiron" } }),
    });
    const { spec } = await readBundle(dir);
    expect(spec.service).toBe("counter");
    expect(spec.main).toBe("index.js");
    expect(spec.compatibilityDate).toBe("2026-09-01");
    expect(spec.compatibilityFlags).toEqual(["nodejs_compat"]);
    // gridiron.json's vars replace wrangler's as a whole (the key is overridden, not merged).
    expect(spec.vars).toEqual({ A: "from-gridiron" });
    expect(spec.modules).toEqual([{ name: "index.js", type: "esModule" }]);
  });

  it("wrangler-shaped output: modules are index.js and the wasm, not the source map or README", async () => {
    const dir = await makeBundle("greeter", {
      "index.js": `import wasm from "./${WASM_NAME}";\n${INDEX}//# sourceMappingURL=index.js.map\n`,
      "index.js.map": '{"version":3,"sources":[],"names":[],"mappings":""}\n',
      "README.md": "This folder contains the built output assets for the worker.\n",
      [WASM_NAME]: WASM,
    });
    const { spec, files } = await readBundle(dir);
    expect(spec.service).toBe("greeter");
    expect(spec.modules).toEqual([
      { name: "index.js", type: "esModule" },
      { name: WASM_NAME, type: "wasm" },
    ]);
    // Non-module files are still part of the bundle (and of its digest).
    expect([...files.keys()].sort()).toEqual(["README.md", WASM_NAME, "index.js", "index.js.map"].sort());
    expect(files.get(WASM_NAME)).toEqual(WASM);
  });

  it("nested directories: main first, then every module sorted by path with its type", async () => {
    const dir = await makeBundle("nested", {
      "index.js": INDEX,
      "lib/util.js": "export const x = 1;\n",
      "lib/deep/er/core.wasm": WASM,
      "lib/legacy.cjs": "module.exports = 1;\n",
      "data/table.json": "{}",
      "data/page.html": "<p>hi</p>",
      "data/blob.bin": new Uint8Array([1, 2, 3]),
      "a.mjs": "export default 1;\n",
      "docs/notes.md": "# notes\n",
      "LICENSE": "MIT\n",
      "lib/util.js.map": "{}",
    });
    const { spec, files } = await readBundle(dir);
    expect(spec.modules).toEqual([
      { name: "index.js", type: "esModule" },
      { name: "a.mjs", type: "esModule" },
      { name: "data/blob.bin", type: "data" },
      { name: "data/page.html", type: "text" },
      { name: "data/table.json", type: "json" },
      { name: "lib/deep/er/core.wasm", type: "wasm" },
      { name: "lib/legacy.cjs", type: "commonJsModule" },
      { name: "lib/util.js", type: "esModule" },
    ]);
    expect(files.size).toBe(11);
    expect(files.get("lib/deep/er/core.wasm")).toEqual(WASM);
  });

  // BUG (reconciler/bundle.ts, isNonModule: `/^LICEN[CS]E/i.test(base)`): the licence-file pattern is
  // not anchored on the extension, so any module whose name starts with "license"/"licence" (e.g.
  // license-check.js, LicenseManager.js) is silently left out of the module list and its import
  // fails only at runtime in workerd.
  it("a JS module whose name starts with 'license' is still a module", async () => {
    const dir = await makeBundle("licensed", {
      "index.js": 'import { check } from "./license-check.js";\nexport default { fetch() { return new Response(String(check())); } };\n',
      "license-check.js": "export const check = () => true;\n",
      "LICENSE": "MIT\n",
    });
    const { spec } = await readBundle(dir);
    expect(spec.modules).toEqual([
      { name: "index.js", type: "esModule" },
      { name: "license-check.js", type: "esModule" },
    ]);
  });

  it("dotfiles and dot-directories are ignored and not part of the digest", async () => {
    const plain = await readBundle(await makeBundle("dots", { "index.js": INDEX }));
    const dotted = await readBundle(
      await makeBundle("dots", {
        "index.js": INDEX,
        ".DS_Store": "junk",
        ".index.js.swp": "swap",
        ".git/config": "[core]\n",
        "lib/.hidden.js": "x",
      }),
    );
    expect([...dotted.files.keys()]).toEqual(["index.js"]);
    expect(dotted.spec.modules).toEqual([{ name: "index.js", type: "esModule" }]);
    expect(dotted.spec.digest).toBe(plain.spec.digest);
    expect(dotted.spec.version).toBe(plain.spec.version);
  });

  it("a symlink to a file inside the bundle is accepted and read through", async () => {
    const dir = await makeBundle("linked", { "index.js": INDEX, "lib/real.js": "export const r = 1;\n" });
    await symlink("lib/real.js", join(dir, "alias.js"));
    const { files, spec } = await readBundle(dir);
    expect(text(files.get("alias.js"))).toBe("export const r = 1;\n");
    expect(spec.modules.map((m) => m.name)).toEqual(["index.js", "alias.js", "lib/real.js"]);
  });

  it("the directory name is not used when gridiron.json names the service", async () => {
    const dir = await makeBundle("Greeter", { "index.js": INDEX, "gridiron.json": '{"name": "greeter"}' });
    expect((await readBundle(dir)).spec.service).toBe("greeter");
  });
});

describe("digest and version stability", () => {
  const BASE: Files = { "index.js": INDEX, "lib/a.js": "a", "lib/b.wasm": WASM, "README.md": "r" };

  it("the same files written in a different order (and different parent) give the same digest", async () => {
    const names = Object.keys(BASE);
    const one = await readBundle(await makeBundle("same", BASE, names));
    const two = await readBundle(await makeBundle("same", BASE, [...names].reverse()));
    expect(two.spec.digest).toBe(one.spec.digest);
    expect(two.spec.version).toBe(one.spec.version);
  });

  it("reading the same directory twice gives the same identity", async () => {
    const dir = await makeBundle("twice", BASE);
    expect((await readBundle(dir)).spec).toEqual((await readBundle(dir)).spec);
  });

  it("the digest does not depend on the directory name", async () => {
    const manifest = JSON.stringify({ name: "svc" });
    const one = await readBundle(await makeBundle("dir-one", { ...BASE, "gridiron.json": manifest }));
    const two = await readBundle(await makeBundle("dir-two", { ...BASE, "gridiron.json": manifest }));
    expect(two.spec.digest).toBe(one.spec.digest);
  });

  it.each<[string, Files, Files]>([
    ["one byte changed", { "index.js": INDEX, x: "abc" }, { "index.js": INDEX, x: "abd" }],
    ["a file renamed", { "index.js": INDEX, x: "abc" }, { "index.js": INDEX, y: "abc" }],
    ["a file moved into a directory", { "index.js": INDEX, x: "abc" }, { "index.js": INDEX, "d/x": "abc" }],
    ["bytes moved between two files", { "index.js": INDEX, a: "xy", b: "" }, { "index.js": INDEX, a: "x", b: "y" }],
    ["a file added", { "index.js": INDEX }, { "index.js": INDEX, "README.md": "" }],
    ["an empty file added", { "index.js": INDEX, a: "x" }, { "index.js": INDEX, a: "x", b: "" }],
    ["a non-module file changed", { "index.js": INDEX, "README.md": "1" }, { "index.js": INDEX, "README.md": "2" }],
  ])("%s changes the digest and the version", async (_label, before, after) => {
    const a = await readBundle(await makeBundle("changing", before));
    const b = await readBundle(await makeBundle("changing", after));
    expect(b.spec.digest).not.toBe(a.spec.digest);
    expect(b.spec.version).not.toBe(a.spec.version);
  });
});

describe("digestFiles", () => {
  /** Independent implementation of the framing documented in bundle.ts. */
  function expected(entries: Array<[string, Uint8Array]>): string {
    const hash = createHash("sha256");
    for (const [path, bytes] of [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      hash.update(Buffer.concat([Buffer.from(path, "utf8"), Buffer.from([0]), Buffer.from(String(bytes.length)), Buffer.from([0]), bytes]));
    }
    return `sha256:${hash.digest("hex")}`;
  }
  const enc = (s: string) => new TextEncoder().encode(s);

  it.each<[string, Array<[string, Uint8Array]>]>([
    ["no files", []],
    ["one file", [["index.js", enc("hello")]]],
    ["unsorted input", [["z.js", enc("z")], ["a.js", enc("a")], ["m/n.wasm", WASM]]],
    ["empty file", [["index.js", enc("x")], ["empty", new Uint8Array()]]],
    ["bytes that look like framing", [["a", enc("b\u00003\u0000xyz")]]],
  ])("matches sha256 over sorted `path NUL length NUL bytes` (%s)", (_label, entries) => {
    expect(digestFiles(new Map(entries))).toBe(expected(entries));
  });

  it("equals a precomputed value for a fixed input", () => {
    const files = new Map<string, Uint8Array>([["b", enc("y")], ["a", enc("x")]]);
    const framed = Buffer.from("a\u00001\u0000xb\u00001\u0000y", "utf8");
    const manual = `sha256:${createHash("sha256").update(framed).digest("hex")}`;
    expect(digestFiles(files)).toBe(manual);
    // Same value, computed outside Node (python3 hashlib over b"a\x001\x00xb\x001\x00y").
    expect(digestFiles(files)).toBe("sha256:27275cb8040d2636419412574785943f4f6a3244d56ef6b752cf6345e09b415c");
  });

  it("does not depend on Map insertion order", () => {
    const a = new Map<string, Uint8Array>([["x", enc("1")], ["y", enc("2")]]);
    const b = new Map<string, Uint8Array>([["y", enc("2")], ["x", enc("1")]]);
    expect(digestFiles(a)).toBe(digestFiles(b));
  });
});

describe("readBundle: rejections", () => {
  it("empty directory", async () => {
    const dir = join(await freshParent(), "empty");
    await mkdir(dir);
    await expectInvalid(readBundle(dir), "empty", "bundle is empty");
  });

  it("directory with only dotfiles counts as empty", async () => {
    const dir = await makeBundle("dotsonly", { ".DS_Store": "x", ".git/HEAD": "ref" });
    await expectInvalid(readBundle(dir), "dotsonly", "bundle is empty");
  });

  it("a file instead of a directory", async () => {
    const parent = await freshParent();
    await writeFile(join(parent, "greeter"), INDEX);
    await expectInvalid(readBundle(join(parent, "greeter")), "greeter", "is not a directory");
  });

  it("a directory that does not exist", async () => {
    await expectInvalid(readBundle(join(await freshParent(), "ghost")), "ghost", /cannot read .*ENOENT/);
  });

  it.each<[string, Files, RegExp]>([
    ["missing index.js", { "worker.js": INDEX }, /main module index\.js not found/],
    ["missing manifest main", { "index.js": INDEX, "gridiron.json": '{"main": "dist/index.js"}' }, /main module dist\/index\.js not found/],
    ["main is .cjs", { "index.cjs": INDEX, "gridiron.json": '{"main": "index.cjs"}' }, /main module index\.cjs must be an ES module/],
    ["main is .wasm", { "m.wasm": WASM, "gridiron.json": '{"main": "m.wasm"}' }, /main module m\.wasm must be an ES module/],
    ["main is .ts", { "index.ts": INDEX, "gridiron.json": '{"main": "index.ts"}' }, /main module index\.ts must be an ES module/],
    ["main is a traversal", { "index.js": INDEX, "gridiron.json": '{"main": "../index.js"}' }, /"main": .*"\.\."/],
    ["main is absolute", { "index.js": INDEX, "gridiron.json": '{"main": "/etc/passwd"}' }, /"main": absolute/],
    ["main is a dotfile", { "index.js": INDEX, "gridiron.json": '{"main": ".hidden.js"}' }, /"main": .*starts with a dot/],
  ])("%s", async (_label, files, reason) => {
    const dir = await makeBundle("mainless", files);
    await expectInvalid(readBundle(dir), "mainless", reason);
  });

  it.each([["bad name"], ["Greeter"], ["\u00fcn\u00ef"], ["-lead"], ["under_score"], ["a".repeat(64)]])(
    "invalid directory name %j without a manifest name",
    async (name) => {
      const dir = await makeBundle(name, { "index.js": INDEX });
      const err = await expectInvalid(readBundle(dir), name, "invalid service name");
      expect(err.message).toContain("bundle directory name");
    },
  );

  it.each([["Greeter"], ["bad name"], ["a/b"], [".."], ["gr\u0435\u0435ter"]])("invalid name %j in gridiron.json", async (name) => {
    const dir = await makeBundle("okdir", { "index.js": INDEX, "gridiron.json": JSON.stringify({ name }) });
    const err = await expectInvalid(readBundle(dir), "okdir", "invalid service name");
    expect(err.message).toContain('"name" in gridiron.json');
  });

  it.each([["V1"], ["1..0"], ["a/b"], ["x".repeat(33)]])("invalid version label %j in gridiron.json", async (version) => {
    const dir = await makeBundle("labelled", { "index.js": INDEX, "gridiron.json": JSON.stringify({ version }) });
    await expectInvalid(readBundle(dir), "labelled", /invalid version label.*"version" in gridiron\.json/);
  });

  it("invalid gridiron.json is reported with the bundle and file", async () => {
    const dir = await makeBundle("broken", { "index.js": INDEX, "gridiron.json": '{"nmae": "x"}' });
    await expectInvalid(readBundle(dir), "broken", /gridiron\.json: unknown key "nmae"/);
  });

  it("invalid wrangler.toml is reported with the bundle and file", async () => {
    const dir = await makeBundle("broken", { "index.js": INDEX, "wrangler.toml": "compatibility_date = \n" });
    await expectInvalid(readBundle(dir), "broken", /wrangler\.toml: not valid TOML/);
  });

  describe("symlinks", () => {
    it("to /etc/passwd", async () => {
      const dir = await makeBundle("sneaky", { "index.js": INDEX });
      await symlink("/etc/passwd", join(dir, "passwd.txt"));
      await expectInvalid(readBundle(dir), "sneaky", /symlink passwd\.txt leaves the bundle/);
    });

    it("to a file outside the bundle via ../", async () => {
      const dir = await makeBundle("sneaky", { "index.js": INDEX });
      await writeFile(join(dir, "..", "secret.js"), "export const s = 'secret';\n");
      await symlink("../secret.js", join(dir, "secret.js"));
      await expectInvalid(readBundle(dir), "sneaky", /symlink secret\.js leaves the bundle/);
    });

    it("to a sibling directory whose name shares the bundle's prefix", async () => {
      const dir = await makeBundle("sneaky", { "index.js": INDEX });
      await writeFiles(`${dir}-other`, { "x.js": "x" });
      await symlink("../sneaky-other/x.js", join(dir, "x.js"));
      await expectInvalid(readBundle(dir), "sneaky", /symlink x\.js leaves the bundle/);
    });

    it("in a subdirectory, escaping via ../../", async () => {
      const dir = await makeBundle("sneaky", { "index.js": INDEX, "lib/ok.js": "x" });
      await writeFile(join(dir, "..", "outside.js"), "x");
      await symlink("../../outside.js", join(dir, "lib", "evil.js"));
      await expectInvalid(readBundle(dir), "sneaky", /symlink lib\/evil\.js leaves the bundle/);
    });

    it("to a directory inside the bundle", async () => {
      const dir = await makeBundle("sneaky", { "index.js": INDEX, "lib/a.js": "x" });
      await symlink("lib", join(dir, "lib2"));
      await expectInvalid(readBundle(dir), "sneaky", /symlink lib2 points to a directory/);
    });

    it("to the bundle directory itself", async () => {
      const dir = await makeBundle("sneaky", { "index.js": INDEX });
      await symlink(".", join(dir, "self"));
      await expectInvalid(readBundle(dir), "sneaky", /symlink self points to a directory/);
    });

    it("to a directory outside the bundle", async () => {
      const dir = await makeBundle("sneaky", { "index.js": INDEX });
      await symlink("/etc", join(dir, "etc"));
      await expectInvalid(readBundle(dir), "sneaky", /symlink etc leaves the bundle/);
    });

    it("dangling", async () => {
      const dir = await makeBundle("sneaky", { "index.js": INDEX });
      await symlink("nowhere.js", join(dir, "gone.js"));
      await expectInvalid(readBundle(dir), "sneaky", /symlink gone\.js points to nothing/);
    });

    it("as index.js pointing outside", async () => {
      const dir = await makeBundle("sneaky", { "lib/x.js": "x" });
      await symlink("/etc/passwd", join(dir, "index.js"));
      await expectInvalid(readBundle(dir), "sneaky", /symlink index\.js leaves the bundle/);
    });
  });

  describe("limits", () => {
    const limits = (over: Partial<BundleLimits>): BundleLimits => ({ ...DEFAULT_LIMITS, ...over });

    it("a file over maxFileBytes", async () => {
      const dir = await makeBundle("big", { "index.js": "x".repeat(10), "lib/huge.bin": "y".repeat(11) });
      await expectInvalid(readBundle(dir, limits({ maxFileBytes: 10 })), "big", /lib\/huge\.bin is 11 bytes, over the 10-byte file limit/);
    });

    it("a file of exactly maxFileBytes is accepted", async () => {
      const dir = await makeBundle("big", { "index.js": "x".repeat(10) });
      await expect(readBundle(dir, limits({ maxFileBytes: 10 }))).resolves.toBeDefined();
    });

    it("more files than maxFiles", async () => {
      const dir = await makeBundle("many", { "index.js": INDEX, a: "", b: "", c: "" });
      await expectInvalid(readBundle(dir, limits({ maxFiles: 3 })), "many", /too many files \(more than 3\)/);
    });

    it("exactly maxFiles files is accepted (dotfiles not counted)", async () => {
      const dir = await makeBundle("many", { "index.js": INDEX, a: "", b: "", ".x": "", ".y": "" });
      await expect(readBundle(dir, limits({ maxFiles: 3 }))).resolves.toBeDefined();
    });

    it("total over maxTotalBytes", async () => {
      const dir = await makeBundle("heavy", { "index.js": "x".repeat(6), "a.txt": "y".repeat(6) });
      await expectInvalid(readBundle(dir, limits({ maxFileBytes: 10, maxTotalBytes: 11 })), "heavy", /over the 11-byte size limit/);
    });

    it("total of exactly maxTotalBytes is accepted", async () => {
      const dir = await makeBundle("heavy", { "index.js": "x".repeat(6), "a.txt": "y".repeat(6) });
      await expect(readBundle(dir, limits({ maxFileBytes: 10, maxTotalBytes: 12 }))).resolves.toBeDefined();
    });
  });

  it.each([
    ["space", "my file.js"],
    ["double quote", 'say"hi.js'],
    ["single quote", "it's.js"],
    ["backslash", "a\\b.js"],
    ["newline", "a\nb.js"],
    ["Cyrillic look-alike", "ind\u0435x2.js"],
    ["percent", "%2e%2e.js"],
    ["colon", "C:x.js"],
  ])("file name with a %s", async (_label, name) => {
    const dir = await makeBundle("oddfiles", { "index.js": INDEX, [name]: "x" });
    await expectInvalid(readBundle(dir), "oddfiles", /characters outside/);
  });

  it("a file under a name Gridiron keeps for its own modules is refused", async () => {
    const dir = await makeBundle("squatter", { "index.js": INDEX, "__gridiron__/lane.js": "x" });
    const err = await expectInvalid(readBundle(dir), "squatter", /__gridiron__\/lane\.js: names that start with "__gridiron" are Gridiron's own/);
    expect(err.context).toMatchObject({ file: "__gridiron__/lane.js" });
  });

  it("a bad name inside a subdirectory is reported with its path", async () => {
    const dir = await makeBundle("oddfiles", { "index.js": INDEX, "lib/bad name.js": "x" });
    const err = await expectInvalid(readBundle(dir), "oddfiles", /"lib\/bad name\.js"/);
    expect(err.context).toMatchObject({ file: "lib/bad name.js" });
  });

  const hasMkfifo = (() => {
    const probe = mkdtempSync(join(tmpdir(), "gridiron-fifo-probe-"));
    try {
      execFileSync("mkfifo", [join(probe, "p")], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    } finally {
      rmSync(probe, { recursive: true, force: true });
    }
  })();

  it.skipIf(!hasMkfifo)("a FIFO is rejected without blocking on it", async () => {
    const dir = await makeBundle("piped", { "index.js": INDEX });
    execFileSync("mkfifo", [join(dir, "pipe")]);
    await expectInvalid(readBundle(dir), "piped", /pipe is not a regular file/);
  });

  it.skipIf(!hasMkfifo)("a symlink to a FIFO inside the bundle is rejected", async () => {
    const dir = await makeBundle("piped", { "index.js": INDEX });
    execFileSync("mkfifo", [join(dir, "pipe")]);
    await symlink("pipe", join(dir, "link"));
    await expectInvalid(readBundle(dir), "piped", /is not a regular file/);
  });
});
