import { describe, expect, it } from "vitest";
import { firstSyntaxError, formatSyntaxLocation, syntaxErrorIn } from "../../reconciler/workerd/syntax.ts";

describe("syntaxErrorIn", () => {
  it.each<[string, string, string | undefined]>([
    // test/helpers/bundles.ts's broken bundle: V8 says "missing ) after argument list".
    ["an unclosed call", "export default {\n  fetch(request) {\n    return new Response('unreachable'\n  },\n};\n", 'index.js:4:3: Expected ")" but found "}"'],
    ["an unterminated object", "export default {", 'index.js:1:17: Expected identifier but found end of file'],
    ["a stray token on a later line", "const a = 1;\nconst b = 2;\n  let = = 3;\n", 'index.js:3:9: Unexpected "="'],
    ["valid ESM", "export default { fetch() { return new Response('ok'); } };\n", undefined],
    ["top-level await in ESM", "await Promise.resolve();\nexport default {};\n", undefined],
    ["an empty module", "", undefined],
  ])("%s", async (_name, code, expected) => {
    const found = await syntaxErrorIn("index.js", code);
    expect(found ? formatSyntaxLocation(found) : undefined).toBe(expected);
  });

  it("CommonJS is parsed as a script: top-level await is an error there", async () => {
    expect(await syntaxErrorIn("legacy.cjs", "module.exports = 1;\n", "cjs")).toBeUndefined();
    expect((await syntaxErrorIn("legacy.cjs", "await 1;\n", "cjs"))?.file).toBe("legacy.cjs");
  });
});

describe("firstSyntaxError", () => {
  it("names the first JS module that does not parse, skipping other module types", async () => {
    const found = await firstSyntaxError([
      { name: "index.js", type: "esModule", text: () => 'import "./lib/a.js";\nexport default {};\n' },
      { name: "data.json", type: "json", text: () => "{ not json" },
      { name: "lib/a.js", type: "esModule", text: () => "export const a = (1;\n" },
    ]);
    expect(found && formatSyntaxLocation(found)).toBe('lib/a.js:1:20: Expected ")" but found ";"');
  });
});
