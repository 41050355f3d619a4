// Materialises one directory of a commit, byte for byte, from the object database: `ls-tree -r`
// names the blobs, one `cat-file --batch` streams them. Unlike a checkout or `git archive`, no
// .gitattributes filter, eol conversion or export-ignore can change what gets deployed, and no
// index or working tree is shared between passes.
import { mkdir, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import type { GitRunner } from "./_git-cmd.ts";

export interface TreeEntry {
  /** Git mode: 100644/100755 file, 120000 symlink, 160000 submodule. */
  mode: string;
  type: string;
  oid: string;
  /** Path relative to the listed tree, "/"-separated. */
  path: string;
}

/** Lists every entry under `treeish` (a tree id or `<commit>:<path>`), recursively. */
export async function listTree(git: GitRunner, treeish: string, signal?: AbortSignal): Promise<TreeEntry[]> {
  const out = await git.run(["ls-tree", "-r", "-z", "--full-tree", treeish], signal);
  const entries: TreeEntry[] = [];
  for (const record of out.split("\0")) {
    if (!record) continue;
    const tab = record.indexOf("\t");
    const [mode, type, oid] = record.slice(0, tab).split(" ") as [string, string, string];
    entries.push({ mode, type, oid, path: record.slice(tab + 1) });
  }
  return entries;
}

/** Streams the contents of `oids` (blobs) from `git cat-file --batch`, in order. */
async function* catFileBatch(git: GitRunner, oids: readonly string[], signal?: AbortSignal): AsyncGenerator<{ oid: string; data: Buffer }> {
  const child = git.spawn(["cat-file", "--batch"]);
  const stderr: Buffer[] = [];
  child.stderr.on("data", (c: Buffer) => stderr.push(c));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve(code));
  });
  exited.catch(() => {});
  const onAbort = () => child.kill("SIGKILL");
  signal?.addEventListener("abort", onAbort);
  child.stdin.on("error", () => {}); // EPIPE if git dies early: reported through its exit instead
  child.stdin.end(oids.map((o) => `${o}\n`).join(""));
  try {
    let head: Buffer = Buffer.alloc(0);
    let want: { oid: string; size: number } | undefined;
    let body: Buffer[] = [];
    let bodyLen = 0;
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      let rest: Buffer = chunk;
      while (rest.length > 0) {
        if (!want) {
          head = head.length ? Buffer.concat([head, rest]) : rest;
          const nl = head.indexOf(10);
          if (nl < 0) break;
          const line = head.subarray(0, nl).toString("utf8");
          rest = head.subarray(nl + 1);
          head = Buffer.alloc(0);
          const [oid, type, size] = line.split(" ") as [string, string, string | undefined];
          if (type === "missing" || size === undefined) throw new Error(`object ${oid} is missing from the clone`);
          want = { oid, size: Number(size) };
          body = [];
          bodyLen = 0;
        }
        // Body plus the newline that follows it.
        const need = want.size + 1 - bodyLen;
        const take = rest.subarray(0, need);
        body.push(take);
        bodyLen += take.length;
        rest = rest.subarray(take.length);
        if (bodyLen === want.size + 1) {
          const data = Buffer.concat(body, bodyLen).subarray(0, want.size);
          const oid = want.oid;
          want = undefined;
          yield { oid, data };
        }
      }
    }
    const code = await exited;
    if (want) throw new Error(`git cat-file stopped in the middle of object ${want.oid}`);
    if (code !== 0) throw new Error(`git cat-file --batch exited with ${code}: ${Buffer.concat(stderr).toString("utf8").trim()}`);
  } finally {
    signal?.removeEventListener("abort", onAbort);
    if (child.exitCode === null) child.kill("SIGKILL");
  }
}

/** A symlink target is kept only if it stays inside the materialised tree. */
function linkStaysInside(linkPath: string, target: string): boolean {
  if (path.posix.isAbsolute(target)) return false;
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(linkPath), target));
  return resolved !== ".." && !resolved.startsWith("../");
}

/**
 * Writes `entries` (from listTree) under `dest`. Returns what was skipped (submodules, symlinks
 * that leave the tree) so the caller can say so.
 */
export async function writeTree(git: GitRunner, entries: readonly TreeEntry[], dest: string, signal?: AbortSignal): Promise<{ skipped: string[] }> {
  const skipped: string[] = [];
  const byOid = new Map<string, TreeEntry[]>();
  for (const e of entries) {
    if (e.type !== "blob") {
      skipped.push(`${e.path} (${e.type === "commit" ? "submodule" : e.type})`);
      continue;
    }
    if (e.path.split("/").some((seg) => seg === "" || seg === "." || seg === "..")) {
      skipped.push(`${e.path} (unsafe path)`);
      continue;
    }
    byOid.set(e.oid, [...(byOid.get(e.oid) ?? []), e]);
  }
  const dirs = new Set<string>();
  for (const list of byOid.values()) for (const e of list) dirs.add(path.dirname(path.join(dest, e.path)));
  for (const d of [...dirs].sort()) await mkdir(d, { recursive: true });
  for await (const { oid, data } of catFileBatch(git, [...byOid.keys()], signal)) {
    for (const e of byOid.get(oid) ?? []) {
      const file = path.join(dest, e.path);
      if (e.mode === "120000") {
        const target = data.toString("utf8");
        if (!linkStaysInside(e.path, target)) {
          skipped.push(`${e.path} (symlink to ${target} leaves the tree)`);
          continue;
        }
        await symlink(target, file);
      } else {
        await writeFile(file, data, { mode: e.mode === "100755" ? 0o755 : 0o644 });
      }
    }
  }
  return { skipped };
}
