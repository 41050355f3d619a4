import { expect, it } from "vitest";
import { commandStatus } from "../../reconciler/api/server.ts";

const err = (kind: string) => ({ code: "X", kind, message: "x" });

it.each([
  ["the pass applied it", [], 200],
  ["Restate refused a query for a moment: recorded, the retry applies it", [err("failed")], 202],
  ["waiting on a node", [err("waiting")], 202],
  ["something refused", [err("stalled")], 409],
  ["a refusal beside a passing failure", [err("failed"), err("stalled")], 409],
])("%s → %i", (_what, errors, want) => {
  expect(commandStatus({ errors })).toBe(want);
});
