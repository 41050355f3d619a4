import { describe, expect, it } from "vitest";
import { resolveOptions } from "../../reconciler/node/options.ts";

describe("workerd mode options", () => {
  it("loader is the default, with keep-alive to workerd and recycling after 16 dropped versions", () => {
    expect(resolveOptions({}, {}, "/tmp")).toMatchObject({ workerdMode: "loader", restateKeepAlive: true, workerdRecycleAfter: 16 });
  });

  it("static mode defaults to Connection: close; an explicit keep-alive choice wins either way", () => {
    expect(resolveOptions({ "workerd-mode": "static" }, {}, "/tmp")).toMatchObject({ workerdMode: "static", restateKeepAlive: false });
    expect(resolveOptions({}, { GRIDIRON_WORKERD_MODE: "static", GRIDIRON_RESTATE_KEEP_ALIVE: "true" }, "/tmp").restateKeepAlive).toBe(true);
    expect(resolveOptions({ "restate-keep-alive": "false" }, {}, "/tmp")).toMatchObject({ workerdMode: "loader", restateKeepAlive: false });
  });

  it("refuses an unknown mode and a recycle threshold that is not a number", () => {
    expect(() => resolveOptions({ "workerd-mode": "dynamic" }, {}, "/tmp")).toThrow(/--workerd-mode \/ GRIDIRON_WORKERD_MODE: expected loader or static/);
    expect(() => resolveOptions({ "workerd-recycle-after": "lots" }, {}, "/tmp")).toThrow(/workerd-recycle-after/);
  });
});
