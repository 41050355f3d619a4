// Which source yields the desired state, chosen once from the resolved options. Every kind sits
// behind the Source contract (source.ts); adding one means its own file, one row here and a test.
import { mkdir } from "node:fs/promises";
import type { Logger } from "pino";
import { FolderSource } from "./folder.ts";
import { GitSource } from "./git.ts";
import type { Source } from "./source.ts";

export type { Artifact, Source } from "./source.ts";

/** What the source kinds read of the node's resolved options. */
export interface SourceOptions {
  bundlesDir: string;
  debounceMs: number;
  dataDir: string;
  gitUrl: string;
  gitBranch: string;
  gitPath: string;
  gitFetchMs: number;
  gitSshKey: string;
  gitToken: string;
}

export interface SourceKind {
  kind: string;
  /** True when the options ask for this kind; the first match wins, the last row is the default. */
  selected(o: Readonly<SourceOptions>): boolean;
  create(o: Readonly<SourceOptions>, logger: Logger): Promise<Source>;
}

export const SOURCE_KINDS: readonly SourceKind[] = [
  {
    kind: "git",
    selected: (o) => o.gitUrl !== "",
    create: async (o, logger) =>
      new GitSource({
        url: o.gitUrl,
        branch: o.gitBranch,
        path: o.gitPath,
        dataDir: o.dataDir,
        intervalMs: o.gitFetchMs,
        credentials: { sshKey: o.gitSshKey || undefined, token: o.gitToken || undefined },
        logger,
      }),
  },
  {
    kind: "folder",
    selected: () => true,
    create: async (o) => {
      await mkdir(o.bundlesDir, { recursive: true });
      return new FolderSource(o.bundlesDir, { debounceMs: o.debounceMs });
    },
  },
];

export async function createSource(o: Readonly<SourceOptions>, logger: Logger, kinds: readonly SourceKind[] = SOURCE_KINDS): Promise<Source> {
  const kind = kinds.find((k) => k.selected(o));
  if (!kind) throw new Error(`no source kind matches the options (kinds: ${kinds.map((k) => k.kind).join(", ")})`);
  return kind.create(o, logger);
}
