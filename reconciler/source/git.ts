// A branch of a git repository as the desired state. The clone lives in <data>/git/repo (bare);
// every fetch pins the branch tip with a forced refspec (a force-push or rewritten history simply
// makes the new tip the desired state) and materialises <path> of that commit, byte for byte,
// into <data>/git/trees/<sha>/ — written aside and renamed, so a pass never reads a half-updated
// tree, and an earlier artifact's directory never changes under a later fetch.
//
// Fetches happen on every reconcile pass (Source.fetch), on the webhook (which triggers a pass),
// and on an interval started by watch(), with exponential backoff while the remote fails.
// Concurrent fetches are serialized; a caller that arrives while one runs gets the next one, so
// a push announced by a webhook is never answered by a fetch that started before it.
import { mkdir, rm, stat } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import { writeDirAtomic } from "../core/atomic-write.ts";
import { GridironError, type ErrorCode } from "../core/errors.ts";
import { GitRunner, scrubSecrets, type GitCredentials } from "./_git-cmd.ts";
import { listTree, writeTree } from "./_git-tree.ts";
import { ALLOW_EMPTY_FILE, classifyTopLevel } from "./desired.ts";
import type { Artifact, Source } from "./source.ts";

export interface GitSourceOptions {
  url: string;
  /** Default "main". */
  branch?: string;
  /** Folder inside the repository that holds one bundle per directory; "." for the root. Default "bundles". */
  path?: string;
  /** The source keeps its clone and trees under <dataDir>/git. */
  dataDir: string;
  credentials?: GitCredentials;
  /** Interval of the background fetch started by watch(). Default 30 s. */
  intervalMs?: number;
  /** Upper bound of the backoff while fetches fail. Default max(intervalMs, 5 min). */
  maxBackoffMs?: number;
  /** Materialised trees kept besides the newest. Default 3 in all. */
  keepTrees?: number;
  /** A git command that prints nothing for this long is killed. Default 120 s. */
  timeoutMs?: number;
  logger?: Logger;
}

const BRANCH_RE = /^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*@\{)[A-Za-z0-9._\/-]+(?<![./])(?<!\.lock)$/;

/** "bundles/", "./bundles", "" → "bundles" / "."; refuses absolute paths and "..". */
export function normaliseRepoPath(p: string): string {
  const trimmed = p.trim().replace(/\\/g, "/");
  if (trimmed.startsWith("/")) throw new GridironError("CONFIG_INVALID", `git path "${p}" must be relative to the repository root`);
  const norm = path.posix.normalize(trimmed === "" ? "." : trimmed).replace(/\/+$/, "") || ".";
  if (norm === ".." || norm.startsWith("../")) throw new GridironError("CONFIG_INVALID", `git path "${p}" leaves the repository`);
  return norm;
}

export class GitSource implements Source {
  readonly kind = "git";
  readonly location: string;
  readonly url: string;
  readonly branch: string;
  readonly path: string;
  readonly #root: string;
  readonly #repo: string;
  readonly #trees: string;
  readonly #git: GitRunner;
  readonly #log: Logger | undefined;
  readonly #intervalMs: number;
  readonly #maxBackoffMs: number;
  readonly #keepTrees: number;
  #stop = new AbortController();
  #prepared = false;
  #running: Promise<Artifact> | undefined;
  #next: Promise<Artifact> | undefined;
  /** Materialised trees by commit, with the time each was last handed out. */
  readonly #treeUse = new Map<string, number>();
  #last: { revision?: string; error?: string } = {};

  constructor(o: GitSourceOptions) {
    this.url = o.url;
    this.branch = o.branch ?? "main";
    if (!BRANCH_RE.test(this.branch)) throw new GridironError("CONFIG_INVALID", `"${this.branch}" is not a valid branch name`);
    this.path = normaliseRepoPath(o.path ?? "bundles");
    this.#root = path.join(o.dataDir, "git");
    this.#repo = path.join(this.#root, "repo");
    this.#trees = path.join(this.#root, "trees");
    this.#git = new GitRunner({ cwd: this.#root, gitDir: this.#repo, url: o.url, credentials: o.credentials, timeoutMs: o.timeoutMs });
    this.#log = o.logger?.child({ component: "source", kind: "git" });
    this.#intervalMs = o.intervalMs ?? 30_000;
    this.#maxBackoffMs = o.maxBackoffMs ?? Math.max(this.#intervalMs, 300_000);
    this.#keepTrees = Math.max(1, o.keepTrees ?? 3);
    this.location = `${this.#git.scrub(o.url)} (branch ${this.branch}, path ${this.path})`;
  }

  /** Fetches the branch and returns its tip's tree. Never resolves with a tree older than the call. */
  fetch(signal?: AbortSignal): Promise<Artifact> {
    signal?.throwIfAborted();
    let p: Promise<Artifact>;
    if (this.#next) p = this.#next;
    else if (this.#running) {
      p = this.#next = this.#running.catch(() => undefined).then(() => {
        this.#next = undefined;
        return this.#start();
      });
    } else p = this.#start();
    if (!signal) return p;
    return new Promise<Artifact>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
  }

  #start(): Promise<Artifact> {
    const p = this.#fetchRepairing().then(
      (a) => {
        if (this.#last.error) this.#log?.info({ revision: a.revision }, "git source healthy again");
        this.#last = { revision: a.revision };
        return a;
      },
      (err: unknown) => {
        const e = err instanceof GridironError ? err : this.#error("SOURCE_GIT_FETCH", String((err as Error)?.message ?? err));
        if (e.message !== this.#last.error) this.#log?.warn({ err: e.toJSON() }, "git source error; nothing that serves is touched");
        this.#last = { ...this.#last, error: e.message };
        throw e;
      },
    );
    this.#running = p;
    void p.catch(() => undefined).finally(() => {
      if (this.#running === p) this.#running = undefined;
    });
    return p;
  }

  /** One fetch; a clone found damaged on the way is discarded and cloned again, once. */
  async #fetchRepairing(): Promise<Artifact> {
    const signal = this.#stop.signal;
    await this.#prepare(signal);
    try {
      return await this.#fetchOnce(signal);
    } catch (err) {
      if (signal.aborted) throw this.#error("SOURCE_GIT_ABORTED", "git fetch interrupted: the source is stopping");
      if (err instanceof GridironError && err.code === "SOURCE_EMPTY") throw err;
      if (await this.#healthy(signal)) throw err;
      this.#log?.warn({ repo: this.#repo, err: this.#git.scrub(String((err as Error)?.message ?? err)) }, "the local clone is damaged; cloning again");
      await this.#reinit(signal);
      return await this.#fetchOnce(signal);
    }
  }

  async #fetchOnce(signal: AbortSignal): Promise<Artifact> {
    const t0 = performance.now();
    const ref = `refs/remotes/origin/${this.branch}`;
    try {
      await this.#git.run(["fetch", "--no-tags", "--no-write-fetch-head", "origin", `+refs/heads/${this.branch}:${ref}`], signal);
    } catch (err) {
      throw this.#fetchError(err);
    }
    const sha = (await this.#git.run(["rev-parse", "--verify", `${ref}^{commit}`], signal)).trim();
    const revision = `${this.branch}@${sha.length === 64 ? "sha256" : "sha1"}:${sha}`;
    const treeDir = path.join(this.#trees, sha);
    const dir = this.path === "." ? treeDir : path.join(treeDir, this.path);
    if (this.#treeUse.has(sha)) {
      this.#treeUse.set(sha, Date.now());
      this.#log?.debug({ revision, ms: Math.round(performance.now() - t0) }, "git fetched: no change");
      return { revision, dir };
    }

    const treeish = this.path === "." ? `${sha}^{tree}` : `${sha}:${this.path}`;
    const oid = (await this.#git.run(["rev-parse", "--verify", "-q", treeish], signal).catch(() => "")).trim();
    const type = oid ? (await this.#git.run(["cat-file", "-t", oid], signal)).trim() : "";
    const entries = type === "tree" ? await listTree(this.#git, oid, signal) : [];
    // The listing is recursive: a path with a slash lies inside a top-level directory.
    const topDirs = new Map<string, boolean>();
    for (const e of entries) {
      const slash = e.path.indexOf("/");
      const name = slash < 0 ? e.path : e.path.slice(0, slash);
      topDirs.set(name, topDirs.get(name) === true || slash >= 0);
    }
    const top = classifyTopLevel([...topDirs].map(([name, dir]) => ({ name, dir })));
    if (top.refusedEmpty) {
      const where = type === "tree" ? `"${this.path}" holds no bundle directories` : type ? `"${this.path}" is a file, not a folder` : `"${this.path}" does not exist`;
      throw this.#error("SOURCE_EMPTY",
        `commit ${sha.slice(0, 12)} on ${this.branch}: ${where}. Refusing to remove everything that serves; to really deploy nothing, commit an empty file ${this.path === "." ? "" : `${this.path}/`}${ALLOW_EMPTY_FILE}.`,
        { revision });
    }

    await mkdir(this.#trees, { recursive: true });
    // No fsync: trees are rebuilt by every process (#prepare), so a crash loses nothing.
    await writeDirAtomic(treeDir, async (tmp) => {
      const { skipped } = await writeTree(this.#git, entries, this.path === "." ? tmp : path.join(tmp, this.path), signal);
      await mkdir(this.path === "." ? tmp : path.join(tmp, this.path), { recursive: true });
      if (skipped.length) this.#log?.warn({ revision, skipped }, "git tree entries not materialised");
    }, { replace: true });
    this.#treeUse.set(sha, Date.now());
    await this.#gcTrees(sha);
    this.#log?.info({ revision, bundles: top.bundles.length, ms: Math.round(performance.now() - t0) }, "git fetched a new revision");
    return { revision, dir };
  }

  /** Once per process: directories, a usable repository (cloned again if damaged), the remote URL. */
  async #prepare(signal: AbortSignal): Promise<void> {
    if (this.#prepared) return;
    await mkdir(this.#root, { recursive: true });
    // Trees are per process: nothing outside a running pass reads them (workerd serves copies
    // from the version store), and a changed --path must not meet a tree cut for the old one.
    await rm(this.#trees, { recursive: true, force: true });
    await mkdir(this.#trees, { recursive: true });
    const exists = await stat(this.#repo).then(() => true, () => false);
    if (!exists || !(await this.#healthy(signal))) {
      if (exists) this.#log?.warn({ repo: this.#repo }, "the local clone is damaged; cloning again");
      await this.#reinit(signal);
    } else {
      await this.#git.run(["config", "remote.origin.url", this.url], signal);
    }
    this.#prepared = true;
  }

  async #healthy(signal: AbortSignal): Promise<boolean> {
    try {
      await this.#git.run(["rev-parse", "--git-dir"], signal);
      await this.#git.run(["fsck", "--connectivity-only", "--no-dangling", "--no-progress"], signal);
      return true;
    } catch {
      return false;
    }
  }

  /** Replaces the clone with a fresh empty repository (the next fetch fills it). */
  async #reinit(signal: AbortSignal): Promise<void> {
    try {
      await writeDirAtomic(this.#repo, (tmp) => this.#git.init(tmp, signal), { replace: true });
      await this.#git.run(["config", "remote.origin.url", this.url], signal);
    } catch (err) {
      throw this.#error("SOURCE_GIT_REPO", `cannot create the local clone in ${this.#repo}: ${(err as Error).message}`);
    }
  }

  /** Keeps the `keepTrees` most recently handed-out trees (always the current one). */
  async #gcTrees(current: string): Promise<void> {
    const byUse = [...this.#treeUse].filter(([sha]) => sha !== current).sort((a, b) => b[1] - a[1]);
    for (const [sha] of byUse.slice(this.#keepTrees - 1)) {
      this.#treeUse.delete(sha);
      await rm(path.join(this.#trees, sha), { recursive: true, force: true });
    }
  }

  #fetchError(err: unknown): GridironError {
    const raw = this.#git.scrub(String((err as Error)?.message ?? err));
    const detail = raw.split("\n").map((l) => l.replace(/^(fatal|error): /, "").trim()).filter((l) => l && !/^Please make sure|^and the repository exists/.test(l)).join("; ").replace(/[.\s]+$/, "");
    const url = this.#git.scrub(this.url);
    const retry = `Retrying every ${Math.round(this.#intervalMs / 1000)} s with backoff and on every reconcile; nothing that serves is touched.`;
    if (/couldn't find remote ref/i.test(raw)) {
      return this.#error("SOURCE_GIT_BRANCH", `branch "${this.branch}" does not exist in ${url}. ${retry}`);
    }
    if (/Authentication failed|Permission denied|could not read (Username|Password)|terminal prompts disabled|returned error: 40[13]|Host key verification failed/i.test(raw)) {
      return this.#error("SOURCE_GIT_AUTH", `${url} refused the credentials (${detail}); check GRIDIRON_GIT_TOKEN or GRIDIRON_GIT_SSH_KEY. ${retry}`);
    }
    return this.#error("SOURCE_GIT_FETCH", `cannot fetch ${this.branch} from ${url}: ${detail}. ${retry}`);
  }

  /** A source error, scrubbed. Never given the underlying error: git's stderr may hold what scrubbing removes. */
  #error(code: ErrorCode, message: string, context: Record<string, unknown> = {}): GridironError {
    return new GridironError(code, this.#git.scrub(message), { url: this.#git.scrub(this.url), branch: this.branch, path: this.path, ...context });
  }

  /**
   * The background fetch: every intervalMs (doubling while fetches fail, up to maxBackoffMs).
   * onChange is called when the tip moved or the source's error changed since the last fetch
   * (by anyone), so a pass picks the change up and status shows the error or its end.
   */
  async watch(onChange: (reason: string) => void): Promise<() => Promise<void>> {
    let timer: NodeJS.Timeout | undefined;
    let ticking: Promise<void> | undefined;
    let stopped = false;
    let failures = 0;
    const schedule = () => {
      if (stopped) return;
      const delay = failures === 0 ? this.#intervalMs : Math.min(this.#intervalMs * 2 ** failures, this.#maxBackoffMs);
      timer = setTimeout(() => void (ticking = tick()), delay);
    };
    const tick = async () => {
      const before = { ...this.#last };
      try {
        const a = await this.fetch();
        failures = 0;
        if (a.revision !== before.revision) onChange(`git ${a.revision}`);
        else if (before.error) onChange(`git source healthy again at ${a.revision}`);
      } catch (err) {
        failures++;
        const message = (err as Error).message;
        if (!stopped && message !== before.error) onChange(`git error: ${message}`);
      } finally {
        ticking = undefined;
        schedule();
      }
    };
    schedule();
    return async () => {
      stopped = true;
      clearTimeout(timer);
      this.#stop.abort();
      await ticking;
      await this.#running?.catch(() => undefined);
      this.#stop = new AbortController();
    };
  }
}

export { scrubSecrets };
