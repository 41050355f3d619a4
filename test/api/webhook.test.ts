import { describe, expect, it } from "vitest";
import { signHubBody, verifyHubSignature } from "../../reconciler/api/webhook.ts";

describe("webhook signature", () => {
  const secret = "It's a Secret to Everybody";
  const body = Buffer.from("Hello, World!");
  it.each([
    // GitHub's documented example: this secret, this payload, this signature.
    ["GitHub's example", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", true],
    ["upper-case hex", "sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17", true],
    ["one digit off", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e18", false],
    ["no prefix", "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", false],
    ["sha1 header", "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59", false],
    ["truncated", "sha256=757107ea", false],
    ["empty", "", false],
    ["missing", undefined, false],
  ])("%s", (_name, header, ok) => {
    expect(verifyHubSignature(secret, body, header)).toBe(ok);
  });

  it("signHubBody produces what verifyHubSignature accepts, and only for the same secret", () => {
    const payload = JSON.stringify({ ref: "refs/heads/main" });
    expect(verifyHubSignature("s1", Buffer.from(payload), signHubBody("s1", payload))).toBe(true);
    expect(verifyHubSignature("s2", Buffer.from(payload), signHubBody("s1", payload))).toBe(false);
    expect(verifyHubSignature("s1", Buffer.from(payload), [signHubBody("s1", payload)])).toBe(false);
  });
});
