// /proc parsing: VmRSS from status, utime + stime from stat (a command name may hold spaces and parentheses).
import { describe, expect, it } from "vitest";
import { parseCpuSeconds, parseVmRss, readProcSample } from "../../reconciler/workerd/proc.ts";

describe("parseVmRss", () => {
  it.each([
    ["a status file", "Name:\tworkerd\nVmPeak:\t 900000 kB\nVmRSS:\t   84512 kB\nRssAnon:\t 70000 kB\n", 84512 * 1024],
    ["no VmRSS (a kernel thread)", "Name:\tkthreadd\nState:\tS (sleeping)\n", undefined],
    ["VmRSS of 0", "VmRSS:\t       0 kB\n", 0],
    ["RssAnon is not VmRSS", "RssAnon:\t 70000 kB\n", undefined],
  ])("%s", (_label, text, want) => {
    expect(parseVmRss(text)).toBe(want);
  });
});

describe("parseCpuSeconds", () => {
  // Fields 14 and 15 (utime, stime) are 250 and 125 ticks here.
  const tail = "S 1 1 1 0 -1 4194560 500 0 0 0 250 125 0 0 20 0 12 0 1000 900000000 21000 18446744073709551615";
  it.each([
    ["a plain name", `4242 (workerd) ${tail}`, 3.75],
    ["a name with spaces and parentheses", `4242 (my (odd) name) ${tail}`, 3.75],
    ["no parenthesis", "garbage", undefined],
    ["too few fields", "4242 (workerd) S 1 1", undefined],
  ])("%s", (_label, text, want) => {
    expect(parseCpuSeconds(text)).toBe(want);
  });
});

describe("readProcSample", () => {
  it("reads this process", async () => {
    const s = await readProcSample(process.pid);
    expect(s?.rssBytes).toBeGreaterThan(1024 * 1024);
    expect(s?.cpuSeconds).toBeGreaterThan(0);
  });

  it("is undefined for a process that does not exist", async () => {
    expect(await readProcSample(2 ** 22 + 12345)).toBeUndefined();
  });
});
