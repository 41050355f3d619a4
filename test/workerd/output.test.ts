import { describe, expect, it } from "vitest";
import { forwardLine } from "../../reconciler/workerd/output.ts";

// The line as workerd's stderr carries it when a bundle built from services/greeter loads.
const SDK_WARNING = "[restate][1970-01-01T00:00:00.000Z] WARN: Accepting requests without validating request signatures; handler access must be restricted";

describe("forwardLine", () => {
  const cases: { name: string; line: string; routerVerifies: boolean; forwarded: boolean }[] = [
    { name: "the SDK's warning, router verifies", line: SDK_WARNING, routerVerifies: true, forwarded: false },
    { name: "the SDK's warning, request identity off", line: SDK_WARNING, routerVerifies: false, forwarded: true },
    { name: "the warning at another time of day", line: SDK_WARNING.replace("1970-01-01T00:00:00.000Z", "2026-05-04T12:34:56.789Z"), routerVerifies: true, forwarded: false },
    { name: "another SDK warning", line: "[restate][1970-01-01T00:00:00.000Z] WARN: Error when trying to get invocation id: x", routerVerifies: true, forwarded: true },
    { name: "the SDK's INFO when it checks keys itself", line: "[restate][1970-01-01T00:00:00.000Z] INFO: Validating requests using signing keys [publickeyv1_x]", routerVerifies: true, forwarded: true },
    { name: "bundle code quoting the text", line: "user: Accepting requests without validating request signatures", routerVerifies: true, forwarded: true },
    { name: "the text at ERROR level", line: "[restate][1970-01-01T00:00:00.000Z] ERROR: Accepting requests without validating request signatures", routerVerifies: true, forwarded: true },
    { name: "a workerd error", line: "workerd/server/server.c++:4381: error: Uncaught SyntaxError: Unexpected token", routerVerifies: true, forwarded: true },
    { name: "an empty line", line: "", routerVerifies: true, forwarded: true },
  ];
  it.each(cases)("$name → forwarded: $forwarded", ({ line, routerVerifies, forwarded }) => {
    expect(forwardLine(line, { routerVerifies })).toBe(forwarded);
  });
});
