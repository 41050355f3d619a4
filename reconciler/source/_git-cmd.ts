// Runs git for the git source. The one place that builds git's environment: the repository is
// pinned with GIT_DIR (a damaged clone inside another checkout must never fall through to the
// parent repository), prompts are off (a missing credential fails fast instead of hanging), the
// SSH key or HTTPS token is passed through the environment (never argv, never the stored config),
// and everything reported back is scrubbed of secrets.
import { spawn, type ChildProcessByStdio } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { simpleGit } from "simple-git";

export interface GitCredentials {
  /** Private key file for SSH remotes. */
  sshKey?: string;
  /** HTTPS token: "user:token", or a bare token sent as user "x-access-token" (GitHub's convention). */
  token?: string;
}

// simple-git refuses to run when these are set in the environment it is given (they can make git
// run other programs); they play no part in fetching, so they are dropped.
const GUARDED_ENV = /^(git_.*|editor|visual|pager|prefix|ssh_askpass)$/i;

/** Replaces credentials in URLs (`https://user:pass@host`) and the given secrets with `***`. */
export function scrubSecrets(text: string, secrets: readonly string[] = []): string {
  let out = text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)([^\s/@'"]+)@/gi, (whole, scheme: string, userinfo: string) =>
    userinfo.includes(":") || /^https?:/i.test(scheme) ? `${scheme}***@` : whole);
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join("***");
  return out;
}

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

export class GitRunner {
  readonly #cwd: string;
  readonly #gitDir: string;
  readonly #timeoutMs: number;
  readonly #env: Record<string, string>;
  readonly #secrets: string[] = [];

  constructor(opts: { cwd: string; gitDir: string; url: string; credentials?: GitCredentials; timeoutMs?: number }) {
    this.#cwd = opts.cwd;
    this.#gitDir = opts.gitDir;
    this.#timeoutMs = opts.timeoutMs ?? 120_000;
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !GUARDED_ENV.test(k)) env[k] = v;
    // English messages: the error classification reads them.
    env.LC_ALL = "C";
    env.GIT_TERMINAL_PROMPT = "0";
    const key = opts.credentials?.sshKey;
    env.GIT_SSH_COMMAND = key
      ? `ssh -i ${shellQuote(key)} -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new -o BatchMode=yes -o ConnectTimeout=30`
      : "ssh -o BatchMode=yes -o ConnectTimeout=30";
    const token = opts.credentials?.token;
    if (token) {
      const basic = Buffer.from(token.includes(":") ? token : `x-access-token:${token}`).toString("base64");
      // Scoped to the remote's origin, so a redirect elsewhere never carries the token.
      let scope = "";
      try {
        const u = new URL(opts.url);
        if (u.protocol === "https:" || u.protocol === "http:") scope = `${u.protocol}//${u.host}/`;
      } catch {
        /* not a URL (scp-like ssh or a path): the token does not apply */
      }
      if (scope) {
        env.GIT_CONFIG_COUNT = "1";
        env.GIT_CONFIG_KEY_0 = `http.${scope}.extraHeader`;
        env.GIT_CONFIG_VALUE_0 = `Authorization: Basic ${basic}`;
      }
      this.#secrets.push(token, basic, ...token.split(":").filter((p) => p.length >= 8));
    }
    this.#env = env;
  }

  scrub(text: string): string {
    return scrubSecrets(text, this.#secrets);
  }

  /** Runs `git <args>` against the pinned repository and resolves with its stdout. */
  run(args: string[], signal?: AbortSignal): Promise<string> {
    return this.#simpleGit({ ...this.#env, GIT_DIR: this.#gitDir }, signal).raw(args);
  }

  /** Runs `git init --bare <dir>` (no GIT_DIR: the repository does not exist yet). */
  async init(dir: string, signal?: AbortSignal): Promise<void> {
    await this.#simpleGit(this.#env, signal).raw(["-c", "init.defaultBranch=main", "init", "--bare", "-q", dir]);
  }

  #simpleGit(env: Record<string, string>, signal: AbortSignal | undefined) {
    return simpleGit({
      baseDir: this.#cwd,
      abort: signal,
      timeout: { block: this.#timeoutMs },
      // gc in the foreground: a detached one would outlive us; stalled HTTP transfers give up.
      config: ["gc.autoDetach=false", "maintenance.autoDetach=false", "http.lowSpeedLimit=1000", "http.lowSpeedTime=60"],
      // What we set ourselves, and only that (simple-git drops any other GIT_* it inherits).
      allowEnvironment: Object.keys(env).filter((k) => /^git_/i.test(k)),
      unsafe: { allowUnsafeSshCommand: true, allowUnsafeConfigEnvCount: true },
    }).env(env);
  }

  /** A long-running local git process with pipes (cat-file --batch); never touches the network. */
  spawn(args: string[]): ChildProcessByStdio<Writable, Readable, Readable> {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.#env)) if (!/^git_/i.test(k)) env[k] = v;
    return spawn("git", args, { cwd: this.#cwd, env: { ...env, GIT_DIR: this.#gitDir }, stdio: ["pipe", "pipe", "pipe"] });
  }
}
