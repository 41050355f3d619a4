import { expect, it } from "vitest";
import { folderRevision, revisionIsInformative } from "../../reconciler/source/source.ts";

it.each([
  ["a folder's own revision repeats its path", { kind: "folder", location: "/srv/bundles", revision: folderRevision("/srv/bundles") }, false],
  ["no revision yet", { kind: "git", location: "https://example.com/r.git (branch main, path bundles)" }, false],
  ["a git commit", { kind: "git", location: "https://example.com/r.git (branch main, path bundles)", revision: "main@sha1:0123abcd" }, true],
])("%s", (_name, source, shown) => {
  expect(revisionIsInformative(source)).toBe(shown);
});
