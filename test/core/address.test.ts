import { expect, it } from "vitest";
import { callableHost, callableUrl } from "../../reconciler/core/address.ts";

it.each([
  ["0.0.0.0", "127.0.0.1"],
  ["::", "::1"],
  ["[::]", "::1"],
  ["127.0.0.1", "127.0.0.1"],
  ["10.1.2.3", "10.1.2.3"],
  ["localhost", "localhost"],
])("callableHost(%s) = %s", (bound, called) => {
  expect(callableHost(bound)).toBe(called);
});

it.each([
  ["0.0.0.0", 8080, "http://127.0.0.1:8080"],
  ["::", 8080, "http://[::1]:8080"],
  ["fd00::5", "9070", "http://[fd00::5]:9070"],
  ["[fd00::5]", 9070, "http://[fd00::5]:9070"],
  ["gridiron.internal", 8081, "http://gridiron.internal:8081"],
])("callableUrl(%s, %s) = %s", (host, port, url) => {
  expect(callableUrl(host, port)).toBe(url);
});
