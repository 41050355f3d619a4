import { describe, expect, it } from "vitest";
import { notReadyAfter } from "../../reconciler/reconcile/gate.ts";

const err = (code: string, kind: string) => ({ code, kind, message: `${code} happened` });

describe("notReadyAfter: whether a pass makes the process ready", () => {
  it.each([
    ["a clean pass", [], undefined],
    ["only refused bundles (they wait on a human; the rest serves)", [err("BUNDLE_INVALID", "stalled")], undefined],
    ["the source missing", [err("SOURCE_MISSING", "waiting")], "no pass has finished yet: SOURCE_MISSING: SOURCE_MISSING happened"],
    ["Restate unreachable next to a refused bundle", [err("BUNDLE_INVALID", "stalled"), err("RESTATE_UNREACHABLE", "failed")], "no pass has finished yet: RESTATE_UNREACHABLE: RESTATE_UNREACHABLE happened"],
  ])("%s", (_what, errors, want) => {
    expect(notReadyAfter({ errors })).toBe(want);
  });
});
