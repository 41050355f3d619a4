// docs/GETTING_STARTED.md, run as written, so the guide cannot rot. Every ```sh block is run in
// order, one command at a time, with bash, in a copy of this checkout (the guide edits
// services/greeter and uses the default .gridiron/ and bundles/ folders) with HOME in a temp dir
// (the guide's ~/deploy repositories). The only changes: the ports are free ones (the GRIDIRON_*
// variables the CLI, the just recipes and `npm start` read, and `localhost:8080`/`localhost:8081`
// in commands rewritten), and git gets an identity.
//
// What the guide marks, and the test does:
//   # → text               the command's output (stdout and stderr) must contain `text`;
//   # → text  (within N s) run the command again until it does, for up to N seconds;
//   <!-- guide-test: server -->      the next block runs in the background ("the first terminal");
//                                    its `# →` lines are waited for in its output;
//   <!-- guide-test: stop-server --> Ctrl-C: SIGINT to the server's process group, then the mesh
//                                    must log its last line and leave no process behind;
//   <!-- guide-test: skip (why) -->  the next block is not run (only `npm ci`, checked below).
// Every command must exit 0.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { cp, mkdir, mkdtemp, readFile, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO, allocatePorts, processesUnder, tailFile, type MeshPorts } from "../helpers/mesh.ts";

interface Expectation {
  text: string;
  withinMs?: number;
}
interface Command {
  line: number;
  cmd: string;
  expect: Expectation[];
}
type Step =
  | { kind: "run"; commands: Command[] }
  | { kind: "server"; command: Command }
  | { kind: "stop-server"; line: number }
  | { kind: "skip"; line: number; commands: Command[]; why: string };

/** Splits the guide into steps. Exported shape is tested below on the real guide. */
function parseGuide(markdown: string): Step[] {
  const lines = markdown.split("\n");
  const steps: Step[] = [];
  let directive: { kind: string; why: string } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const d = /^<!--\s*guide-test:\s*([\w-]+)\s*(.*?)\s*-->\s*$/.exec(lines[i]!);
    if (d) {
      if (d[1] === "stop-server") steps.push({ kind: "stop-server", line: i + 1 });
      else if (d[1] === "server" || d[1] === "skip") directive = { kind: d[1], why: d[2]! };
      else throw new Error(`GETTING_STARTED.md:${i + 1}: unknown directive ${d[1]}`);
      continue;
    }
    const fence = /^(\s*)```sh\s*$/.exec(lines[i]!);
    if (!fence) continue;
    const indent = fence[1]!.length;
    const commands: Command[] = [];
    let pending = "";
    let start = 0;
    for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i]!); i++) {
      const text = lines[i]!.slice(indent);
      const arrow = /^#\s*→\s*(.*?)\s*$/.exec(text);
      if (arrow) {
        const within = /^(.*?)\s+\(within (\d+) s\)$/.exec(arrow[1]!);
        const last = commands.at(-1);
        if (!last) throw new Error(`GETTING_STARTED.md:${i + 1}: an expectation before any command`);
        last.expect.push(within ? { text: within[1]!, withinMs: Number(within[2]) * 1000 } : { text: arrow[1]! });
        continue;
      }
      if (!pending && (text.trim() === "" || text.trimStart().startsWith("#"))) continue;
      if (!pending) start = i + 1;
      if (text.endsWith("\\")) {
        pending += `${text.slice(0, -1)} `;
        continue;
      }
      commands.push({ line: start, cmd: pending + text, expect: [] });
      pending = "";
    }
    if (directive?.kind === "server") {
      if (commands.length !== 1) throw new Error(`GETTING_STARTED.md:${start}: a server block holds exactly one command`);
      steps.push({ kind: "server", command: commands[0]! });
    } else if (directive?.kind === "skip") {
      steps.push({ kind: "skip", line: start, commands, why: directive.why });
    } else {
      steps.push({ kind: "run", commands });
    }
    directive = undefined;
  }
  return steps;
}

let root: string;
let work: string;
let home: string;
let ports: MeshPorts;
let env: NodeJS.ProcessEnv;
let steps: Step[];
let server: { child: ChildProcess; log: string; exited: Promise<string> } | undefined;
let serverCount = 0;
const transcript: string[] = [];

/** The guide's default ports, as the test's free ones. */
function rewrite(cmd: string): string {
  return cmd
    .replaceAll("localhost:8080", `127.0.0.1:${ports.ingress}`)
    .replaceAll("localhost:8081", `127.0.0.1:${ports.api}`);
}

function run(cmd: string): { code: number | null; out: string } {
  const r = spawnSync("bash", ["-c", rewrite(cmd)], { cwd: work, env, encoding: "utf8", timeout: 180_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

async function runCommand(c: Command): Promise<void> {
  const within = Math.max(0, ...c.expect.map((e) => e.withinMs ?? 0));
  const deadline = Date.now() + within;
  for (let attempt = 1; ; attempt++) {
    const r = run(c.cmd);
    const missing = c.expect.filter((e) => !r.out.includes(e.text));
    transcript.push(`$ ${c.cmd}   (GETTING_STARTED.md:${c.line}, attempt ${attempt}, exit ${r.code})\n${r.out}`);
    if (r.code === 0 && missing.length === 0) return;
    if (Date.now() > deadline) {
      const serverLog = server ? await tailFile(server.log, 40) : "";
      throw new Error(
        `GETTING_STARTED.md:${c.line}: \`${c.cmd}\` ${r.code !== 0 ? `exited ${r.code}` : "printed something else"}` +
          `${missing.length ? `; expected ${missing.map((m) => JSON.stringify(m.text)).join(", ")}` : ""}\n--- output ---\n${r.out}\n--- server log (tail) ---\n${serverLog}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

async function startServer(c: Command): Promise<void> {
  expect(server, `GETTING_STARTED.md:${c.line}: a server is already running`).toBeUndefined();
  const log = path.join(root, `server-${++serverCount}.log`);
  const out = createWriteStream(log);
  // Its own process group, as a terminal's foreground job: Ctrl-C reaches the whole group.
  const child = spawn("bash", ["-c", rewrite(c.cmd)], { cwd: work, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.pipe(out);
  child.stderr!.pipe(out);
  const exited = new Promise<string>((resolve) => child.once("exit", (code, signal) => resolve(signal ?? String(code))));
  server = { child, log, exited };
  transcript.push(`[first terminal] $ ${c.cmd}   (GETTING_STARTED.md:${c.line})`);
  const deadline = Date.now() + 180_000;
  for (const e of c.expect) {
    for (;;) {
      if ((await readFile(log, "utf8").catch(() => "")).includes(e.text)) break;
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`GETTING_STARTED.md:${c.line}: \`${c.cmd}\` never printed ${JSON.stringify(e.text)}\n${await tailFile(log, 60)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

async function stopServer(line: number): Promise<void> {
  if (!server) throw new Error(`GETTING_STARTED.md:${line}: Ctrl-C, but no server is running`);
  const { child, log, exited } = server;
  process.kill(-child.pid!, "SIGINT");
  const code = await Promise.race([exited, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 60_000))]);
  transcript.push(`[first terminal] Ctrl-C → exit ${code}`);
  if (code === "timeout") throw new Error(`GETTING_STARTED.md:${line}: the server did not stop within 60 s after Ctrl-C\n${await tailFile(log)}`);
  // npm may exit before the daemon under it has stopped its servers: wait for them too.
  const deadline = Date.now() + 60_000;
  while ((await processesUnder(work)).length > 0) {
    if (Date.now() > deadline) throw new Error(`processes left after Ctrl-C: ${JSON.stringify(await processesUnder(work))}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  // The mesh stopped in order (its last line) and nothing is left. npm itself may report the
  // Ctrl-C as it does in a terminal (killed by SIGINT, or 130); `gridiron up` exits 0.
  expect(await readFile(log, "utf8")).toContain('"msg":"stopped"');
  expect(["0", "130", "SIGINT"], `exit after Ctrl-C\n${await tailFile(log)}`).toContain(code);
  server = undefined;
}

beforeAll(async () => {
  steps = parseGuide(await readFile(path.join(REPO, "docs/GETTING_STARTED.md"), "utf8"));
  root = await mkdtemp(path.join(tmpdir(), "gridiron-guide-"));
  work = path.join(root, "gridiron");
  home = path.join(root, "home");
  await mkdir(home);
  // A checkout of what git knows here (tracked, and new files not ignored), with its own git
  // history so the guide's `git restore` works, and this checkout's node_modules.
  const files = spawnSync("git", ["ls-files", "-co", "--exclude-standard", "-z"], { cwd: REPO, encoding: "utf8" }).stdout.split("\0")
    .filter((f) => f && f !== "node_modules" && !f.startsWith("node_modules/"));
  for (const f of files) {
    // A tracked file deleted in the work tree is listed too: skip it.
    await cp(path.join(REPO, f), path.join(work, f), { recursive: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
    });
  }
  await symlink(path.join(REPO, "node_modules"), path.join(work, "node_modules"));
  ports = await allocatePorts();
  env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("GRIDIRON_"))),
    HOME: home,
    GRIDIRON_INGRESS_PORT: String(ports.ingress),
    GRIDIRON_ADMIN_PORT: String(ports.admin),
    GRIDIRON_RESTATE_NODE_PORT: String(ports.node),
    GRIDIRON_WORKERD_PORT: String(ports.workerd),
    GRIDIRON_API_PORT: String(ports.api),
    GIT_AUTHOR_NAME: "Guide Reader",
    GIT_AUTHOR_EMAIL: "reader@example.com",
    GIT_COMMITTER_NAME: "Guide Reader",
    GIT_COMMITTER_EMAIL: "reader@example.com",
    NO_UPDATE_NOTIFIER: "1",
    npm_config_update_notifier: "false",
    npm_config_fund: "false",
  };
  const git = (...args: string[]) => spawnSync("git", args, { cwd: work, env, encoding: "utf8" });
  git("init", "-q", "-b", "main");
  git("add", "-A");
  expect(git("commit", "-q", "-m", "checkout").status).toBe(0);
});

afterAll(async () => {
  if (server) {
    process.kill(-server.child.pid!, "SIGINT");
    await Promise.race([server.exited, new Promise((r) => setTimeout(r, 60_000))]);
    server = undefined;
  }
  if (root) {
    const left = await processesUnder(work);
    for (const p of left) process.kill(p.pid, "SIGKILL");
    expect(left).toEqual([]);
    await rm(root, { recursive: true, force: true });
  }
});

describe("docs/GETTING_STARTED.md", () => {
  it("marks its steps so they can be run: servers started and stopped, only npm ci skipped", () => {
    const skipped = steps.filter((s) => s.kind === "skip").flatMap((s) => s.commands.map((c) => c.cmd.trim()));
    expect(skipped).toEqual(["npm ci"]);
    expect(steps.filter((s) => s.kind === "server").length).toBe(steps.filter((s) => s.kind === "stop-server").length);
    const commands = steps.flatMap((s) => (s.kind === "run" ? s.commands : s.kind === "server" ? [s.command] : []));
    expect(commands.length).toBeGreaterThan(20);
    // Each step's output is checked somewhere: most commands carry an expectation.
    expect(commands.filter((c) => c.expect.length > 0).length).toBeGreaterThan(commands.length / 2);
  });

  it("runs as written, start to finish", async () => {
    try {
      for (const step of steps) {
        if (step.kind === "skip") continue;
        if (step.kind === "server") await startServer(step.command);
        else if (step.kind === "stop-server") await stopServer(step.line);
        else for (const c of step.commands) await runCommand(c);
      }
      expect(server).toBeUndefined();
    } catch (err) {
      const file = path.join(tmpdir(), `gridiron-guide-transcript-${process.pid}.txt`);
      await import("node:fs/promises").then((fs) => fs.writeFile(file, transcript.join("\n")));
      console.log(`guide transcript: ${file}`);
      throw err;
    }
  }, 900_000);
});
