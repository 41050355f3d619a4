// One rule for counting rejections: present → the pass reports it (outcome error); counted once
// while it stays; counted again only when it comes back or changes; forgotten when the source
// no longer asks for it. Each rule is a row.
import { describe, expect, it } from "vitest";
import { GridironError } from "../../reconciler/core/errors.ts";
import { outcomeOf } from "../../reconciler/reconcile/gate.ts";
import type { Observation } from "../../reconciler/reconcile/observe.ts";
import { countOnce, forgotten, rejectionKey, rejectionsOf, type Rejection } from "../../reconciler/reconcile/rejections.ts";
import type { BundleSpec } from "../../reconciler/source/bundle.ts";

const V = (label: string) => `${label}-${"0".repeat(12)}`;
const spec = (service: string, version: string): BundleSpec => ({ service, version, digest: "d", main: "index.js", compatibilityDate: "2026-11-01", compatibilityFlags: [], vars: {}, breaking: false, modules: [] });
const bundleError = (name: string, why = "broken") => new GridironError("BUNDLE_INVALID", `bundle "${name}": ${why}`);
const versionError = (why = "does not load") => new GridironError("VERSION_INVALID", why);

function observed(o: { desired?: BundleSpec[]; errors?: [string, GridironError][] }): Pick<Observation, "errors" | "desired"> {
  return { desired: new Map((o.desired ?? []).map((s) => [s.service, { spec: s, files: new Map() }])), errors: new Map(o.errors ?? []) };
}
const refused = (...r: { service: string; version: string; error: GridironError }[]) => ({ refused: r.map((x) => ({ ...x, remember: true })) });
const summary = (rs: Rejection[]) => rs.map((r) => `${r.service}${r.version ? `/${r.version}` : ""} ${r.error.code}`);

describe("rejectionsOf", () => {
  const typo = bundleError("shop", 'unknown key "compatiblityDate"');
  const cases: { name: string; o: ReturnType<typeof observed>; g?: ReturnType<typeof refused>; failed?: [string, GridironError][]; present: string[] }[] = [
    { name: "nothing wrong", o: observed({ desired: [spec("a", V("v1"))] }), present: [] },
    { name: "a manifest typo (a bundle that cannot be read)", o: observed({ errors: [["shop", typo]] }), present: ["shop BUNDLE_INVALID"] },
    { name: "a bad name", o: observed({ errors: [["Shop", bundleError("Shop", "invalid service name")]] }), present: ["Shop BUNDLE_INVALID"] },
    { name: "a version refused this pass", o: observed({ desired: [spec("a", V("v2"))] }), g: refused({ service: "a", version: V("v2"), error: versionError() }), present: [`a/${V("v2")} VERSION_INVALID`] },
    { name: "a version refused by an earlier pass, still desired", o: observed({ desired: [spec("a", V("v2"))] }), failed: [[`a/${V("v2")}`, versionError()]], present: [`a/${V("v2")} VERSION_INVALID`] },
    { name: "refused now and remembered: once", o: observed({ desired: [spec("a", V("v2"))] }), g: refused({ service: "a", version: V("v2"), error: versionError() }), failed: [[`a/${V("v2")}`, versionError()]], present: [`a/${V("v2")} VERSION_INVALID`] },
    { name: "a remembered refusal the source moved past is not present", o: observed({ desired: [spec("a", V("v3"))] }), failed: [[`a/${V("v2")}`, versionError()]], present: [] },
    {
      name: "several at once, in a stable order",
      o: observed({ desired: [spec("b", V("v1"))], errors: [["shop", typo]] }),
      g: refused({ service: "b", version: V("v1"), error: new GridironError("SERVICE_CONFLICT", "conflict") }),
      present: [`b/${V("v1")} SERVICE_CONFLICT`, "shop BUNDLE_INVALID"],
    },
  ];
  it.each(cases)("$name", ({ o, g, failed, present }) => {
    expect(summary(rejectionsOf(o, g ?? { refused: [] }, new Map(failed ?? [])))).toEqual(present);
  });
});

describe("countOnce: counted in the pass it appears, repeated while it stays", () => {
  const typo: Rejection = { service: "shop", error: bundleError("shop", "typo") };
  const otherTypo: Rejection = { service: "shop", error: bundleError("shop", "another typo") };
  const v2: Rejection = { service: "a", version: V("v2"), error: versionError() };
  const v2Breaking: Rejection = { service: "a", version: V("v2"), error: new GridironError("BREAKING_CHANGE", "removes a handler") };
  const v3: Rejection = { service: "a", version: V("v3"), error: versionError() };
  // Passes in order; `counted` lists what each pass counts (not repeated).
  const cases: { name: string; passes: Rejection[][]; counted: string[][] }[] = [
    { name: "a broken bundle seen by three resyncs counts once", passes: [[typo], [typo], [typo]], counted: [["shop BUNDLE_INVALID"], [], []] },
    { name: "fixed differently but still broken counts again", passes: [[typo], [otherTypo]], counted: [["shop BUNDLE_INVALID"], ["shop BUNDLE_INVALID"]] },
    { name: "removed, then back: counts again", passes: [[typo], [], [typo]], counted: [["shop BUNDLE_INVALID"], [], ["shop BUNDLE_INVALID"]] },
    { name: "a new broken version counts; the same one re-probed does not", passes: [[v2], [v2], [v3]], counted: [[`a/${V("v2")} VERSION_INVALID`], [], [`a/${V("v3")} VERSION_INVALID`]] },
    { name: "the same version refused for another reason counts", passes: [[v2], [v2Breaking]], counted: [[`a/${V("v2")} VERSION_INVALID`], [`a/${V("v2")} BREAKING_CHANGE`]] },
  ];
  it.each(cases)("$name", ({ passes, counted }) => {
    let seen = new Set<string>();
    const got: string[][] = [];
    for (const present of passes) {
      const r = countOnce(seen, present);
      seen = r.seen;
      got.push(summary(r.rejections.filter((x) => !x.repeated)));
      // Every present rejection is reported, repeated or not.
      expect(r.rejections.map(rejectionKey)).toEqual(present.map(rejectionKey));
    }
    expect(got).toEqual(counted);
  });

  it("a pass reporting a rejection, repeated or not, ends in error (partial if it changed something)", () => {
    const errors = [{ ...versionError().toJSON(), repeated: true }];
    expect(outcomeOf({ actions: [], errors })).toBe("error");
    expect(outcomeOf({ actions: [{ type: "store", service: "b", version: V("v1") } as never], errors })).toBe("partial");
  });
});

describe("forgotten", () => {
  it.each<[string, string[], BundleSpec[], string[]]>([
    ["a refused version still desired stays", [`a/${V("v2")}`], [spec("a", V("v2"))], []],
    ["its bundle removed from the source", [`a/${V("v2")}`], [], [`a/${V("v2")}`]],
    ["replaced by a newer version", [`a/${V("v2")}`], [spec("a", V("v3"))], [`a/${V("v2")}`]],
  ])("%s", (_name, failed, desired, gone) => {
    expect(forgotten(new Map(failed.map((k) => [k, versionError()])), observed({ desired }))).toEqual(gone);
  });
});
