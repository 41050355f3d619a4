// docs/configuration.md is generated from OPTION_SPECS; this fails when someone changes an option
// and forgets to regenerate it, and checks the generator's output is the same on every machine.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../reconciler/core/paths.ts";
import { OPTION_SPECS, type OptionSpec } from "../../reconciler/node/options.ts";
import { CONFIG_DOC, describeOptions, renderConfigDocs } from "../../scripts/gen-config-docs.ts";

describe("docs/configuration.md", () => {
  it("is what scripts/gen-config-docs.ts renders from OPTION_SPECS now", () => {
    const have = readFileSync(CONFIG_DOC, "utf8");
    expect(have, "docs/configuration.md is stale: run `npm run docs:config` and commit the result").toBe(renderConfigDocs(describeOptions()));
  });

  it("names every option once, by flag (secrets: env only) and variable", () => {
    const doc = renderConfigDocs(describeOptions());
    for (const spec of OPTION_SPECS) {
      const row = doc.split("\n").filter((l) => l.includes(`| \`${spec.env}\` |`));
      expect(row, spec.env).toHaveLength(1);
      expect(row[0]!.startsWith(spec.envOnly ? "| — (env only) |" : `| \`--${spec.flag}\` |`), spec.env).toBe(true);
    }
  });

  it("holds no path of this machine and does not depend on whether stdout is a terminal", () => {
    const doc = renderConfigDocs(describeOptions());
    expect(doc).not.toContain(REPO_ROOT);
    expect(doc).toMatch(/`config\/restate\.toml` in the checkout/);
    expect(doc).toMatch(/\| `--log-format` \| `GRIDIRON_LOG_FORMAT` \| `pretty` in a terminal, else `json` \|/);
  });

  it("shows a default that reads other options with what it read", () => {
    const specs: OptionSpec[] = [
      { key: "workerdMode", flag: "workerd-mode", env: "M", default: () => "loader", doc: "mode" },
      { key: "restateKeepAlive", flag: "restate-keep-alive", env: "K", default: (o) => (o.workerdMode === "static" ? "false" : "true"), doc: "keep <alive> | or not" },
      { key: "apiToken", flag: "api-token", env: "T", default: () => "", doc: "secret", envOnly: true },
    ];
    expect(describeOptions(specs)).toEqual([
      { flag: "--workerd-mode", env: "M", default: "`loader`", doc: "mode" },
      { flag: "--restate-keep-alive", env: "K", default: "`true` while `--workerd-mode` is `loader`", doc: "keep <alive> | or not" },
      { flag: null, env: "T", default: "(none)", doc: "secret" },
    ]);
    // Prose with <placeholders> and pipes must survive a Markdown table.
    expect(renderConfigDocs(describeOptions(specs))).toContain("| keep \\<alive> \\| or not |");
  });
});
