// The README is the front door and docs/ the manual: every relative link in them must lead to a file
// that exists (and, with an #anchor, to a heading in it), and the front door stays short.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const README_MAX_LINES = 200;

const PAGES = [
  "README.md",
  "services/README.md",
  "container/README.md",
  ...readdirSync(path.join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`),
];

/** Prose only: links shown inside code are examples, not links. */
const prose = (markdown: string): string => markdown.replace(/^([ \t]*)```[\s\S]*?^\1```/gm, "").replace(/`[^`\n]*`/g, "");

/** GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of markdown.replace(/^([ \t]*)```[\s\S]*?^\1```/gm, "").matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const slug = m[1]!.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}

function relativeLinks(markdown: string): string[] {
  return [...prose(markdown).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1]!).filter((href) => !/^[a-z][a-z0-9+.-]*:/i.test(href));
}

describe("documentation links", () => {
  it.each(PAGES)("%s links only to files and headings that exist", (page) => {
    const text = readFileSync(path.join(ROOT, page), "utf8");
    const broken: string[] = [];
    for (const href of relativeLinks(text)) {
      const [file, anchor] = href.split("#", 2) as [string, string | undefined];
      const target = file === "" ? path.join(ROOT, page) : path.resolve(path.dirname(path.join(ROOT, page)), decodeURIComponent(file));
      if (!existsSync(target)) broken.push(`${href} (no such file)`);
      else if (anchor && target.endsWith(".md") && !anchors(readFileSync(target, "utf8")).has(anchor)) broken.push(`${href} (no such heading)`);
    }
    expect(broken, `${page}: broken links`).toEqual([]);
  });

  it(`README.md stays a front door: at most ${README_MAX_LINES} lines`, () => {
    const lines = readFileSync(path.join(ROOT, "README.md"), "utf8").trimEnd().split("\n").length;
    expect(lines, "move detail into docs/ and link to it").toBeLessThanOrEqual(README_MAX_LINES);
  });

  it("README.md's first commands are the two the project promises (CI runs the second)", () => {
    const firstBlock = /```\w*\n([\s\S]*?)```/.exec(readFileSync(path.join(ROOT, "README.md"), "utf8"))![1]!;
    expect(firstBlock.split("\n").slice(0, 2).map((l) => l.replace(/\s+#.*$/, ""))).toEqual(["npm ci && npm start", "npm ci && npm test"]);
  });
});
