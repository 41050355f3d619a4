import { describe, expect, it } from "vitest";
import { GridironError } from "../../reconciler/core/errors.ts";
import { parseGridironManifest } from "../../reconciler/source/manifest.ts";

const ok = { steps: [10, 50, 100], stepSeconds: 60, maxFailureRatio: 0.02, minInvocations: 20 };
const parse = (rollout: unknown) => parseGridironManifest("b", JSON.stringify({ rollout }));

describe('gridiron.json "rollout"', () => {
  it.each([[ok], [{ ...ok, steps: [25] }], [{ ...ok, moveOnAbort: false, maxFailureRatio: 0 }]])("accepts %j", (r) => expect(parse(r).rollout).toEqual(r));

  it.each([
    ["not an object", [10], /"rollout" must be an object like/],
    ["unknown key", { ...ok, step: 5 }, /unknown key "step"/],
    ["missing key", { steps: [10], stepSeconds: 5, maxFailureRatio: 0.1 }, /"rollout.minInvocations" is missing/],
    ["empty steps", { ...ok, steps: [] }, /"rollout.steps" must be a list of whole percentages/],
    ["step 0", { ...ok, steps: [0, 100] }, /whole percentages from 1 to 100/],
    ["step over 100", { ...ok, steps: [50, 150] }, /whole percentages from 1 to 100/],
    ["decreasing", { ...ok, steps: [50, 10] }, /must increase/],
    ["fractional seconds", { ...ok, stepSeconds: 1.5 }, /"rollout.stepSeconds" must be a whole number of seconds/],
    ["ratio over 1", { ...ok, maxFailureRatio: 2 }, /"rollout.maxFailureRatio" must be a number from 0 to 1/],
    ["no invocations", { ...ok, minInvocations: 0 }, /"rollout.minInvocations" must be a whole number/],
    ["moveOnAbort not boolean", { ...ok, moveOnAbort: "no" }, /"rollout.moveOnAbort" must be true or false/],
  ])("refuses %s", (_name, r, message) => {
    let err: unknown;
    try {
      parse(r);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GridironError);
    expect((err as GridironError).code).toBe("BUNDLE_INVALID");
    expect((err as GridironError).message).toMatch(message);
  });
});
