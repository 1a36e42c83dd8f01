import { describe, expect, it } from "vitest";
import { applyClaim, fitsAfterClaim } from "./claim";
import { DEFAULT_FILTERS } from "./filters";
import { schedule } from "./schedule";
import { makeHost, makeReq, makeTcgHost } from "./test-fixtures";
import type { Filter, ScheduleResult } from "./types";

const arm = (patch = {}) => makeReq({ arch: "aarch64", ...patch });
const chosen = (r: ScheduleResult) => (r.ok ? { name: r.host.name, emulated: r.emulated } : r.reason);
const reasonsOf = (r: ScheduleResult, name: string) => r.rejected.find((x) => x.host.name === name)?.reasons;

describe("native first, emulation only as a fallback", () => {
  it("prefers a native host even when emulation is allowed and the emulating host is emptier", () => {
    const r = schedule(
      [makeHost("x-big", "x86_64", { memoryMb: 262144 }), makeHost("a1", "aarch64")],
      arm({ allowEmulation: true }),
    );
    expect(chosen(r)).toEqual({ name: "a1", emulated: false });
    expect(reasonsOf(r, "x-big")).toEqual(["a native aarch64 host is available"]);
  });

  it("falls back to an emulating host when no native host exists and the VM allows it", () => {
    const r = schedule([makeHost("x1"), makeHost("x2", "x86_64", { memoryMb: 32768 })], arm({ allowEmulation: true }));
    expect(chosen(r)).toEqual({ name: "x2", emulated: true });
    expect(r.ok && r.eligible.map((e) => [e.host.name, e.emulated])).toEqual([
      ["x2", true],
      ["x1", true],
    ]);
  });

  it("falls back when every native host is full", () => {
    const r = schedule(
      [makeHost("a-full", "aarch64", { allocatedMemoryMb: 16000 }), makeHost("x1")],
      arm({ allowEmulation: true }),
    );
    expect(chosen(r)).toEqual({ name: "x1", emulated: true });
    expect(reasonsOf(r, "a-full")).toEqual(["needs 2048 MiB RAM, 384 free"]);
  });

  it("does not fall back when the VM does not allow emulation", () => {
    const r = schedule([makeHost("x1"), makeHost("x2")], arm());
    expect(chosen(r)).toBe(
      "No host can run an aarch64 VM: 2 hosts are x86_64 only (emulation not allowed for this VM)",
    );
    expect(reasonsOf(r, "x1")).toEqual([
      "arch x86_64 ≠ aarch64: runs aarch64 only emulated (TCG); emulation not allowed for this VM",
    ]);
  });

  it("a same-arch host without KVM counts as emulated (dev machines)", () => {
    const fleet = [makeTcgHost("x-tcg", "x86_64"), makeTcgHost("a-tcg", "aarch64")];
    expect(chosen(schedule(fleet, makeReq()))).toBe(
      "No host can run an x86_64 VM: 1 x86_64 host has no KVM (emulation not allowed for this VM); 1 host is aarch64 only (emulation not allowed for this VM)",
    );
    const r = schedule(fleet, makeReq({ allowEmulation: true }));
    expect(r.ok && r.emulated).toBe(true);
    expect(r.ok && r.eligible.length).toBe(2);
  });
});

describe("allocation ratios and reservations decide who has room", () => {
  it.each([
    [
      "cpu overcommit lets a 2-CPU host take 6 vCPUs",
      [makeHost("small", "x86_64", { cpuCount: 2, cpuAllocationRatio: 4, maxVcpusNative: 8 })],
      { vcpus: 6 },
      "small",
    ],
    [
      "ram overcommit 1.5× makes the smaller host the emptier one",
      [
        makeHost("a", "x86_64", { memoryMb: 12288, ramAllocationRatio: 1.5 }),
        makeHost("b", "x86_64", { memoryMb: 16384 }),
      ],
      {},
      "a",
    ],
    [
      "reserved RAM makes the bigger host the fuller one",
      [
        makeHost("a", "x86_64", { memoryMb: 20480, reservedMemoryMb: 8192 }),
        makeHost("b", "x86_64", { memoryMb: 16384 }),
      ],
      {},
      "b",
    ],
    [
      "allocated RAM counts",
      [makeHost("a", "x86_64", { allocatedMemoryMb: 4096 }), makeHost("b", "x86_64", { allocatedMemoryMb: 1024 })],
      {},
      "b",
    ],
  ])("%s", (_, hosts, patch, expected) => {
    const r = schedule(hosts, makeReq(patch));
    expect(r.ok && r.host.name).toBe(expected);
  });
});

describe("strategies", () => {
  const fleet = [
    makeHost("roomy", "x86_64", { memoryMb: 65536 }),
    makeHost("snug", "x86_64", { memoryMb: 4096 }),
    makeHost("mid", "x86_64", { memoryMb: 16384 }),
  ];
  it.each([
    [undefined, "roomy"],
    ["spread", "roomy"],
    ["pack", "snug"],
  ] as const)("strategy %s picks %s", (strategy, expected) => {
    const r = schedule(fleet, makeReq({ strategy }));
    expect(r.ok && r.host.name).toBe(expected);
  });

  it("pack skips hosts that do not fit, however full", () => {
    const r = schedule([...fleet, makeHost("tiny", "x86_64", { memoryMb: 1024 })], makeReq({ strategy: "pack" }));
    expect(r.ok && r.host.name).toBe("snug");
    expect(reasonsOf(r, "tiny")).toEqual(["needs 2048 MiB RAM, 1024 free"]);
  });

  it("ties go to more free vCPU, then the name", () => {
    const r = schedule([makeHost("c"), makeHost("b"), makeHost("a", "x86_64", { cpuCount: 4 })], makeReq());
    expect(r.ok && r.eligible.map((e) => e.host.name)).toEqual(["b", "c", "a"]);
  });

  it("eligible is sorted best first and rejected keeps fleet order", () => {
    const r = schedule(
      [
        makeHost("z-off", "x86_64", { status: "offline" }),
        ...fleet,
        makeHost("a-off", "x86_64", { status: "offline" }),
      ],
      makeReq(),
    );
    expect(r.ok && r.eligible.map((e) => e.host.name)).toEqual(["roomy", "mid", "snug"]);
    expect(r.rejected.map((x) => x.host)).toEqual([
      { id: "id-z-off", name: "z-off", arch: "x86_64" },
      { id: "id-a-off", name: "a-off", arch: "x86_64" },
    ]);
  });
});

describe("every reason per rejected host", () => {
  it("collects state, arch and room reasons together", () => {
    const host = makeHost("bad", "x86_64", {
      adminState: "disabled",
      status: "offline",
      memoryMb: 1024,
      diskGb: 10,
      cpuCount: 2,
      maxVcpusEmulated: 2,
    });
    const r = schedule([host], arm({ vcpus: 4, memoryMb: 4096, diskGb: 20 }));
    expect(reasonsOf(r, "bad")).toEqual([
      "host is disabled",
      "host is offline",
      "arch x86_64 ≠ aarch64: runs aarch64 only emulated (TCG); emulation not allowed for this VM",
      "needs 4 vCPUs, 2 free",
      "needs 4096 MiB RAM, 1024 free",
      "needs 20 GiB disk, 10 free",
      "4 vCPUs exceed the 2-vCPU limit of TCG on this host",
    ]);
  });
});

describe("the combined failure reason", () => {
  it.each([
    ["empty fleet", [], arm(), "No host can run an aarch64 VM: the fleet has no hosts"],
    [
      "only other-arch hosts",
      [makeHost("x1"), makeHost("x2")],
      arm(),
      "No host can run an aarch64 VM: 2 hosts are x86_64 only (emulation not allowed for this VM)",
    ],
    [
      "other-arch hosts that cannot emulate",
      [makeHost("x1", "x86_64", { emulatedArches: [] })],
      arm({ allowEmulation: true }),
      "No host can run an aarch64 VM: 1 host is x86_64 only and cannot emulate aarch64",
    ],
    [
      "right-arch host offline",
      [makeHost("x1"), makeHost("a1", "aarch64", { status: "offline" })],
      arm(),
      "No host can run an aarch64 VM: 1 host is x86_64 only (emulation not allowed for this VM); 1 aarch64 host is offline",
    ],
    [
      "everything down",
      [
        makeHost("a1", "aarch64", { status: "offline" }),
        makeHost("a2", "aarch64", { status: "offline" }),
        makeHost("a3", "aarch64", { adminState: "maintenance" }),
        makeHost("x1", "x86_64", { adminState: "disabled" }),
      ],
      arm(),
      "No host can run an aarch64 VM: 2 aarch64 hosts are offline; 1 aarch64 host is in maintenance; 1 x86_64 host is disabled",
    ],
    [
      "no QEMU on the right arch",
      [makeHost("a1", "aarch64", { nativeArches: [], emulatedArches: [] })],
      arm(),
      "No host can run an aarch64 VM: 1 aarch64 host has no QEMU for aarch64",
    ],
    [
      "RAM short",
      [makeHost("a1", "aarch64", { memoryMb: 1024 }), makeHost("x1", "x86_64", { emulatedArches: [] })],
      arm({ memoryMb: 4096 }),
      "No aarch64 host has room: needs 4096 MiB RAM, the most free is 1024 MiB",
    ],
    [
      "several resources short, max over hosts",
      [makeHost("a1", "aarch64", { cpuCount: 2 }), makeHost("a2", "aarch64", { diskGb: 5 })],
      arm({ vcpus: 12, diskGb: 300 }),
      "No aarch64 host has room: needs 12 vCPUs, the most free is 8; needs 300 GiB disk, the most free is 200 GiB; " +
        "12 vCPUs exceed every host's per-VM vCPU limit (the highest is 8)",
    ],
    [
      "fits nowhere at once",
      [
        makeHost("cpu", "aarch64", { cpuCount: 16, maxVcpusNative: 16, memoryMb: 2048 }),
        makeHost("ram", "aarch64", { cpuCount: 2, memoryMb: 65536 }),
      ],
      arm({ vcpus: 8, memoryMb: 8192 }),
      "No aarch64 host has room: no single host has 8 vCPUs, 8192 MiB RAM and 20 GiB disk free at once (2 hosts checked)",
    ],
    [
      "hints at emulation that would fit",
      [makeHost("a1", "aarch64", { memoryMb: 1024 }), makeHost("x1"), makeHost("x2", "x86_64", { memoryMb: 1024 })],
      arm({ memoryMb: 4096 }),
      "No aarch64 host has room: needs 4096 MiB RAM, the most free is 1024 MiB; 1 host could run it emulated (TCG) if emulation were allowed",
    ],
    [
      "native and emulated both full",
      [makeHost("a1", "aarch64", { memoryMb: 1024 }), makeHost("x1", "x86_64", { memoryMb: 2048 })],
      arm({ memoryMb: 4096, allowEmulation: true }),
      "No aarch64 host has room, native or emulated: needs 4096 MiB RAM, the most free is 2048 MiB",
    ],
    [
      "only emulating hosts, full, plus an offline native one",
      [makeHost("x1", "x86_64", { memoryMb: 2048 }), makeHost("a1", "aarch64", { status: "offline" })],
      arm({ memoryMb: 4096, allowEmulation: true }),
      "No host that can emulate aarch64 has room: needs 4096 MiB RAM, the most free is 2048 MiB; 1 aarch64 host is offline",
    ],
    [
      "TCG vCPU limit",
      [makeHost("x1", "x86_64", { cpuCount: 16, maxVcpusEmulated: 4 })],
      arm({ vcpus: 8, allowEmulation: true }),
      "No host that can emulate aarch64 has room: 8 vCPUs exceed every host's per-VM vCPU limit (the highest is 4)",
    ],
  ])("%s", (_, hosts, req, reason) => {
    const r = schedule(hosts, req);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toBe(reason);
    expect(r.rejected).toHaveLength(hosts.length);
    for (const x of r.rejected) expect(x.reasons.length).toBeGreaterThan(0);
  });
});

describe("extending", () => {
  it("takes an extra filter, whose reasons show up like the built-in ones", () => {
    const noOdd: Filter = {
      name: "no-odd",
      kind: "resource",
      check: (h) => (h.name.endsWith("1") ? { ok: false, reason: "odd host" } : { ok: true }),
    };
    const r = schedule([makeHost("h1"), makeHost("h2", "x86_64", { memoryMb: 1024 })], makeReq({ memoryMb: 1024 }), {
      filters: [...DEFAULT_FILTERS, noOdd],
    });
    expect(r.ok && r.host.name).toBe("h2");
    expect(reasonsOf(r, "h1")).toEqual(["odd host"]);
  });
});

it("places VMs one by one until full without ever overfilling (claim applied to the snapshot)", () => {
  let fleet = [makeHost("a1", "aarch64"), makeHost("a2", "aarch64", { cpuAllocationRatio: 2 }), makeHost("x1")];
  let placed = 0;
  for (let i = 0; i < 1000; i++) {
    const req = arm({ vcpus: 1 + (i % 3), memoryMb: 512, diskGb: 5 });
    const r = schedule(fleet, req);
    if (!r.ok) break;
    expect(fitsAfterClaim(r.host, req)).toBe(true);
    fleet = fleet.map((h) => (h === r.host ? applyClaim(h, req) : h));
    placed++;
  }
  for (const h of fleet) {
    expect(h.allocatedCpus).toBeLessThanOrEqual(Math.floor(h.cpuCount * h.cpuAllocationRatio));
    expect(h.allocatedMemoryMb).toBeLessThanOrEqual(h.memoryMb);
  }
  // a1: 8 vCPUs, a2: 16 → vCPUs (1,2,3 repeating) run out first; x1 never takes an aarch64 VM without emulation.
  expect(placed).toBeGreaterThanOrEqual(11);
  expect(fleet.find((h) => h.name === "x1")!.allocatedCpus).toBe(0);
});
