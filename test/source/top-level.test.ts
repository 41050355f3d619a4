// The empty-source rule both source kinds apply (classifyTopLevel in source/desired.ts).
import { expect, it } from "vitest";
import { ALLOW_EMPTY_FILE, classifyTopLevel } from "../../reconciler/source/desired.ts";

const dir = (name: string) => ({ name, dir: true });
const file = (name: string) => ({ name, dir: false });

it.each([
  ["no entries at all", [], [], false, true],
  ["only files", [file("README.md")], [], false, true],
  ["only a dot-directory (a writer's temp dir)", [dir(".greeter.tmp-1")], [], false, true],
  ["a bundle directory", [dir("greeter"), file("README.md")], ["greeter"], false, false],
  ["the opt-in file and nothing else", [file(ALLOW_EMPTY_FILE)], [], true, false],
  ["bundles and the opt-in file", [dir("counter"), file(ALLOW_EMPTY_FILE)], ["counter"], true, false],
])("%s", (_name, entries, bundles, allowEmpty, refusedEmpty) => {
  const top = classifyTopLevel(entries);
  expect(top.bundles.map((b) => b.name)).toEqual(bundles);
  expect(top.allowEmpty).toBe(allowEmpty);
  expect(top.refusedEmpty).toBe(refusedEmpty);
});
