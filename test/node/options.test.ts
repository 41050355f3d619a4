import { describe, expect, it } from "vitest";
import { resolveOptions } from "../../reconciler/node/options.ts";

describe("workerd mode options", () => {
  it("loader is the default, with keep-alive to workerd", () => {
    expect(resolveOptions({}, {}, "/tmp")).toMatchObject({ workerdMode: "loader", restateKeepAlive: true });
  });

  it("static mode defaults to Connection: close; an explicit keep-alive choice wins either way", () => {
    expect(resolveOptions({ "workerd-mode": "static" }, {}, "/tmp")).toMatchObject({ workerdMode: "static", restateKeepAlive: false });
    expect(resolveOptions({}, { GRIDIRON_WORKERD_MODE: "static", GRIDIRON_RESTATE_KEEP_ALIVE: "true" }, "/tmp").restateKeepAlive).toBe(true);
    expect(resolveOptions({ "restate-keep-alive": "false" }, {}, "/tmp")).toMatchObject({ workerdMode: "loader", restateKeepAlive: false });
  });

  it("refuses an unknown mode and a loaded-versions bound that is not a number", () => {
    expect(() => resolveOptions({ "workerd-mode": "dynamic" }, {}, "/tmp")).toThrow(/--workerd-mode \/ GRIDIRON_WORKERD_MODE: expected loader or static/);
    expect(() => resolveOptions({ "workerd-loaded-max": "lots" }, {}, "/tmp")).toThrow(/workerd-loaded-max/);
  });

  it("takes the registrar lock from Restate unless told to use a Kubernetes Lease", () => {
    expect(resolveOptions({}, {}, "/tmp")).toMatchObject({ registrarLock: "restate", registrarLeaseName: "gridiron-registrar" });
    expect(resolveOptions({}, { GRIDIRON_REGISTRAR_LOCK: "kubernetes" }, "/tmp")).toMatchObject({ registrarLock: "kubernetes" });
    expect(() => resolveOptions({ "registrar-lock": "etcd" }, {}, "/tmp")).toThrow(/--registrar-lock \/ GRIDIRON_REGISTRAR_LOCK: expected restate or kubernetes/);
  });
});
