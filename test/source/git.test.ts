// The git source against real git: a bare repository on disk as the remote, a work clone to commit
// and push from, the source's own clone in a temp data dir. No servers except a small HTTP one
// that refuses credentials (the bad-credentials path).
import { execFileSync, spawnSync } from "node:child_process";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { GridironError } from "../../reconciler/core/errors.ts";
import { resolveOptions } from "../../reconciler/node/options.ts";
import { createSource, SOURCE_KINDS, type SourceKind } from "../../reconciler/source/index.ts";
import { GitSource, normaliseRepoPath, scrubSecrets } from "../../reconciler/source/git.ts";

const gitEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^GIT_/i.test(k)));

function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", ["-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main", ...args], {
    cwd, env: { ...gitEnv, LC_ALL: "C" }, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"],
  }).trim();
}

interface Remote {
  bare: string;
  work: string;
  /** Writes files (relative to the work tree; null deletes), commits, pushes; returns the commit. */
  commit(files: Record<string, string | null>, message?: string): Promise<string>;
}

let root: string;
const sources: GitSource[] = [];

async function makeRemote(name = "remote"): Promise<Remote> {
  const bare = path.join(root, `${name}.git`);
  const work = path.join(root, `${name}-work`);
  git(root, "init", "-q", "--bare", bare);
  git(root, "init", "-q", work);
  git(work, "remote", "add", "origin", bare);
  return {
    bare,
    work,
    async commit(files, message = "change") {
      for (const [rel, text] of Object.entries(files)) {
        const file = path.join(work, rel);
        if (text === null) await rm(file, { recursive: true, force: true });
        else {
          await mkdir(path.dirname(file), { recursive: true });
          await writeFile(file, text);
        }
      }
      git(work, "add", "-A");
      git(work, "commit", "-q", "--allow-empty", "-m", message);
      git(work, "push", "-q", "origin", "HEAD:main");
      return git(work, "rev-parse", "HEAD");
    },
  };
}

function source(url: string, opts: Partial<ConstructorParameters<typeof GitSource>[0]> = {}): GitSource {
  const s = new GitSource({ url, dataDir: path.join(root, `data-${sources.length}`), ...opts });
  sources.push(s);
  return s;
}

async function fetchError(s: GitSource): Promise<GridironError> {
  const err = await s.fetch().then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(GridironError);
  return err as GridironError;
}

const TWO_BUNDLES = {
  "bundles/greeter/index.js": "export default { fetch() { return new Response('hello') } };\n",
  "bundles/greeter/gridiron.json": '{ "vars": { "GREETING": "Hello" } }\n',
  "bundles/counter/index.js": "export default { fetch() { return new Response('1') } };\n",
  "README.md": "deployments\n",
};

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), "gridiron-git-"));
});

afterEach(async () => {
  sources.length = 0;
  await rm(root, { recursive: true, force: true });
});

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe("GitSource", () => {
  it("clones, fetches and materialises the bundle path at the branch tip", async () => {
    const remote = await makeRemote();
    const sha = await remote.commit(TWO_BUNDLES);
    const s = source(remote.bare);
    expect(s.kind).toBe("git");
    expect(s.location).toBe(`${remote.bare} (branch main, path bundles)`);
    const a = await s.fetch();
    expect(a.revision).toBe(`main@sha1:${sha}`);
    expect(a.dir).toBe(path.join(root, "data-0", "git", "trees", sha, "bundles"));
    expect((await readdir(a.dir)).sort()).toEqual(["counter", "greeter"]);
    expect(await readFile(path.join(a.dir, "greeter", "gridiron.json"), "utf8")).toBe(TWO_BUNDLES["bundles/greeter/gridiron.json"]);
    // The bare clone is the source's own, under the data dir.
    expect((await stat(path.join(root, "data-0", "git", "repo", "HEAD"))).isFile()).toBe(true);

    // Nothing changed: same artifact.
    expect(await s.fetch()).toEqual(a);
  });

  it("the repository root can be the bundle path", async () => {
    const remote = await makeRemote();
    const sha = await remote.commit({ "greeter/index.js": "x\n", ".github/workflows/ci.yml": "on: push\n" });
    const a = await source(remote.bare, { path: "." }).fetch();
    expect(a).toEqual({ revision: `main@sha1:${sha}`, dir: path.join(root, "data-0", "git", "trees", sha) });
    expect((await readdir(a.dir)).sort()).toEqual([".github", "greeter"]);
  });

  it("a later commit never changes an earlier artifact's directory; old trees are collected", async () => {
    const remote = await makeRemote();
    await remote.commit(TWO_BUNDLES);
    const s = source(remote.bare, { keepTrees: 2 });
    const first = await s.fetch();
    await remote.commit({ "bundles/greeter/gridiron.json": '{ "vars": { "GREETING": "Howdy" } }\n' });
    const second = await s.fetch();
    expect(second.dir).not.toBe(first.dir);
    expect(await readFile(path.join(first.dir, "greeter", "gridiron.json"), "utf8")).toContain("Hello");
    expect(await readFile(path.join(second.dir, "greeter", "gridiron.json"), "utf8")).toContain("Howdy");

    await remote.commit({ "bundles/counter/index.js": "changed\n" });
    const third = await s.fetch();
    // keepTrees 2: the current and the one before stay.
    expect(await stat(second.dir).then(() => true)).toBe(true);
    expect(await stat(first.dir).then(() => true, () => false)).toBe(false);
    expect(await readFile(path.join(third.dir, "counter", "index.js"), "utf8")).toBe("changed\n");
  });

  it("a force-push to an older commit makes that commit the desired state", async () => {
    const remote = await makeRemote();
    const old = await remote.commit(TWO_BUNDLES);
    const s = source(remote.bare);
    await remote.commit({ "bundles/greeter/gridiron.json": '{ "vars": { "GREETING": "Howdy" } }\n' });
    expect((await s.fetch()).revision).not.toContain(old);
    git(remote.work, "push", "-q", "--force", "origin", `${old}:main`);
    const a = await s.fetch();
    expect(a.revision).toBe(`main@sha1:${old}`);
    expect(await readFile(path.join(a.dir, "greeter", "gridiron.json"), "utf8")).toContain("Hello");
  });

  it("a rewritten history (unrelated new root) is followed too", async () => {
    const remote = await makeRemote();
    await remote.commit(TWO_BUNDLES);
    const s = source(remote.bare);
    await s.fetch();
    git(remote.work, "checkout", "-q", "--orphan", "rewritten");
    git(remote.work, "rm", "-rq", "--cached", ".");
    await rm(path.join(remote.work, "bundles"), { recursive: true });
    await mkdir(path.join(remote.work, "bundles", "solo"), { recursive: true });
    await writeFile(path.join(remote.work, "bundles", "solo", "index.js"), "solo\n");
    git(remote.work, "add", "bundles");
    git(remote.work, "commit", "-qm", "rewrite");
    git(remote.work, "push", "-q", "--force", "origin", "HEAD:main");
    const sha = git(remote.work, "rev-parse", "HEAD");
    const a = await s.fetch();
    expect(a.revision).toBe(`main@sha1:${sha}`);
    expect(await readdir(a.dir)).toEqual(["solo"]);
  });

  it("refuses a commit whose bundle path is missing or holds no bundle, unless it opts in", async () => {
    const remote = await makeRemote();
    await remote.commit({ "README.md": "nothing yet\n" });
    const s = source(remote.bare);
    const missing = await fetchError(s);
    expect(missing.code).toBe("SOURCE_EMPTY");
    expect(missing.kind).toBe("stalled");
    expect(missing.message).toMatch(/"bundles" does not exist.*gridiron-allow-empty/);

    await remote.commit({ "bundles/README.md": "bundles go here\n", "bundles/.hidden/x.js": "x\n" });
    const empty = await fetchError(s);
    expect(empty.code).toBe("SOURCE_EMPTY");
    expect(empty.message).toMatch(/"bundles" holds no bundle directories/);

    await remote.commit({ "bundles": null, "bundles.txt": "a file\n" });
    git(remote.work, "mv", "bundles.txt", "bundles");
    git(remote.work, "commit", "-qm", "file");
    git(remote.work, "push", "-q", "origin", "HEAD:main");
    expect((await fetchError(s)).message).toMatch(/"bundles" is a file, not a folder/);

    await remote.commit({ "bundles": null });
    const sha = await remote.commit({ "bundles/gridiron-allow-empty": "" });
    const a = await s.fetch();
    expect(a.revision).toBe(`main@sha1:${sha}`);
    expect(await readdir(a.dir)).toEqual(["gridiron-allow-empty"]);
  });

  it("an unreachable remote is a waiting SOURCE_GIT_FETCH error that names the URL without its credentials", async () => {
    const s = source("https://alice:s3cret-pass@127.0.0.1:9/deploy.git");
    expect(s.location).toBe("https://***@127.0.0.1:9/deploy.git (branch main, path bundles)");
    const e = await fetchError(s);
    expect(e.code).toBe("SOURCE_GIT_FETCH");
    expect(e.kind).toBe("waiting");
    expect(e.message).toContain("https://***@127.0.0.1:9/deploy.git");
    expect(JSON.stringify(e.toJSON())).not.toContain("s3cret");
    expect(e.message).toMatch(/nothing that serves is touched/);

    const gone = source(path.join(root, "no-such-remote.git"));
    const e2 = await fetchError(gone);
    expect(e2.code).toBe("SOURCE_GIT_FETCH");
    expect(e2.message).toMatch(/does not appear to be a git repository/);
  });

  it("a remote that vanishes after a good fetch is an error, and the last tree stays on disk", async () => {
    const remote = await makeRemote();
    await remote.commit(TWO_BUNDLES);
    const s = source(remote.bare);
    const a = await s.fetch();
    await rm(remote.bare, { recursive: true });
    expect((await fetchError(s)).code).toBe("SOURCE_GIT_FETCH");
    expect((await readdir(a.dir)).sort()).toEqual(["counter", "greeter"]);
  });

  it.skipIf(spawnSync("ssh", ["-V"]).error !== undefined)("an SSH remote uses the configured key, without prompting", async () => {
    const key = path.join(root, "keys", "deploy key");
    const e = await fetchError(source("ssh://git@127.0.0.1:9/deploy.git", { credentials: { sshKey: key } }));
    expect(e.code).toBe("SOURCE_GIT_FETCH");
    // ssh was handed the key (the path has a space: quoted intact).
    expect(e.message).toContain(`Identity file ${key} not accessible`);
    expect(e.message).toContain("ssh://git@127.0.0.1:9/deploy.git");
  });

  it("a missing branch is SOURCE_GIT_BRANCH", async () => {
    const remote = await makeRemote();
    await remote.commit(TWO_BUNDLES);
    const e = await fetchError(source(remote.bare, { branch: "production" }));
    expect(e.code).toBe("SOURCE_GIT_BRANCH");
    expect(e.message).toContain('branch "production" does not exist');
  });

  it("sends the HTTPS token as a header scoped to the remote, and keeps it out of errors", async () => {
    const seen: IncomingHttpHeaders[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(401, { "www-authenticate": 'Basic realm="git"' }).end("no");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const port = (server.address() as AddressInfo).port;
      const token = "ghp_tokenvalue1234567890";
      const e = await fetchError(source(`http://127.0.0.1:${port}/org/deploy.git`, { credentials: { token } }));
      expect(e.code).toBe("SOURCE_GIT_AUTH");
      expect(e.message).toContain(`http://127.0.0.1:${port}/org/deploy.git refused the credentials`);
      const basic = Buffer.from(`x-access-token:${token}`).toString("base64");
      expect(seen.some((h) => h.authorization === `Basic ${basic}`)).toBe(true);
      expect(JSON.stringify(e.toJSON())).not.toContain(token);
      expect(JSON.stringify(e.toJSON())).not.toContain(basic);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it("a damaged clone is detected and cloned again", async () => {
    const remote = await makeRemote();
    const sha = await remote.commit(TWO_BUNDLES);
    const s = source(remote.bare);
    await s.fetch();
    const repo = path.join(root, "data-0", "git", "repo");
    // Every object file emptied: git reports them corrupt.
    const objects = path.join(repo, "objects");
    for (const dir of await readdir(objects)) {
      if (!/^([0-9a-f]{2}|pack)$/.test(dir)) continue;
      for (const f of await readdir(path.join(objects, dir))) await truncate(path.join(objects, dir, f), 0);
    }
    const next = await remote.commit({ "bundles/counter/index.js": "2\n" });
    const a = await s.fetch();
    expect(a.revision).toBe(`main@sha1:${next}`);
    expect(await readFile(path.join(a.dir, "counter", "index.js"), "utf8")).toBe("2\n");

    // A clone that is not a repository at all (HEAD overwritten), found by a new process.
    await writeFile(path.join(repo, "HEAD"), "garbage\n");
    const fresh = new GitSource({ url: remote.bare, dataDir: path.join(root, "data-0") });
    expect((await fresh.fetch()).revision).toBe(`main@sha1:${next}`);
    expect(sha).not.toBe(next);
  });

  it("concurrent fetches are serialized and agree", async () => {
    const remote = await makeRemote();
    const sha = await remote.commit(TWO_BUNDLES);
    const s = source(remote.bare);
    const all = await Promise.all([s.fetch(), s.fetch(), s.fetch(), s.fetch()]);
    expect(new Set(all.map((a) => a.revision))).toEqual(new Set([`main@sha1:${sha}`]));
    const trees = await readdir(path.join(root, "data-0", "git", "trees"));
    expect(trees).toEqual([sha]);
  });

  it("watch() fetches in the background and reports a moved tip", async () => {
    const remote = await makeRemote();
    await remote.commit(TWO_BUNDLES);
    const s = source(remote.bare, { intervalMs: 20 });
    await s.fetch();
    const reasons: string[] = [];
    let moved: (reason: string) => void = () => {};
    const seen = new Promise<string>((resolve) => (moved = resolve));
    const stop = await s.watch((reason) => {
      reasons.push(reason);
      moved(reason);
    });
    try {
      const sha = await remote.commit({ "bundles/greeter/index.js": "new\n" });
      expect(await seen).toBe(`git main@sha1:${sha}`);
    } finally {
      await stop();
    }
    // Stopping twice is harmless, and fetch still works afterwards.
    await stop();
    expect((await s.fetch()).revision).toMatch(/^main@sha1:/);
  });

  it("rejects bad branch names and paths that leave the repository", () => {
    expect(() => source("/x", { branch: "-evil" })).toThrow(/not a valid branch/);
    expect(() => source("/x", { branch: "a..b" })).toThrow(/not a valid branch/);
    expect(() => source("/x", { path: "../etc" })).toThrow(/leaves the repository/);
    expect(() => source("/x", { path: "/etc" })).toThrow(/relative/);
    expect(normaliseRepoPath("./bundles/")).toBe("bundles");
    expect(normaliseRepoPath("")).toBe(".");
    expect(normaliseRepoPath("deploy/prod")).toBe("deploy/prod");
  });
});

describe("scrubSecrets", () => {
  it.each([
    ["fatal: unable to access 'https://user:pw@github.com/o/r.git/'", "fatal: unable to access 'https://***@github.com/o/r.git/'"],
    ["https://ghp_abc@github.com/o/r", "https://***@github.com/o/r"],
    ["ssh://git@github.com/o/r", "ssh://git@github.com/o/r"],
    ["ssh://git:pw@host/r", "ssh://***@host/r"],
    ["git@github.com:o/r.git", "git@github.com:o/r.git"],
    ["token=supersecret in text", "token=*** in text"],
  ])("%s", (input, output) => {
    expect(scrubSecrets(input, ["supersecret"])).toBe(output);
  });
});

describe("source selection", () => {
  it("picks git when a URL is given and the folder otherwise", async () => {
    const data = path.join(root, "data");
    const folder = await createSource(resolveOptions({}, { GRIDIRON_DATA_DIR: data, GRIDIRON_BUNDLES_DIR: path.join(root, "b") }, root), undefined as never);
    expect(folder.kind).toBe("folder");
    const git = await createSource(resolveOptions({ git: "/srv/deploy.git", branch: "prod", path: "." }, { GRIDIRON_DATA_DIR: data }, root), undefined as never);
    expect(git.kind).toBe("git");
    expect(git.location).toBe("/srv/deploy.git (branch prod, path .)");
    expect(SOURCE_KINDS.map((k) => k.kind)).toEqual(["git", "folder"]);
  });

  it("a new kind is one row in the registry", async () => {
    const fake: SourceKind = {
      kind: "fake",
      selected: () => true,
      create: async () => ({ kind: "fake", location: "nowhere", fetch: async () => ({ revision: "r", dir: "/" }), watch: async () => async () => {} }),
    };
    const s = await createSource(resolveOptions({}, {}, root), undefined as never, [fake, ...SOURCE_KINDS]);
    expect(s.kind).toBe("fake");
  });

  it("secrets come from the environment only", () => {
    const o = resolveOptions({ "git-token": "from-flag", "webhook-secret": "from-flag" }, { GRIDIRON_GIT_TOKEN: "t", GRIDIRON_WEBHOOK_SECRET: "w" }, root);
    expect(o.gitToken).toBe("t");
    expect(o.webhookSecret).toBe("w");
    expect(resolveOptions({}, {}, root)).toMatchObject({ gitUrl: "", gitBranch: "main", gitPath: "bundles", gitFetchMs: 30_000 });
  });
});
