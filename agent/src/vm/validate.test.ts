import { describe, expect, it } from "vitest";
import { vmSpecSchema, type VmSpecInput } from "../../../lib/schemas/agent-api";
import { AgentError } from "./errors";
import { describeHost, validateSpec, type HostLimits } from "./validate";

const x86Host: HostLimits = {
  hostArch: "x86_64",
  kvm: true,
  cpuCount: 8,
  memoryMb: 16384,
  binaries: { x86_64: "/usr/bin/qemu-system-x86_64", aarch64: "/usr/bin/qemu-system-aarch64" },
  firmware: { "x86_64-code": "/c", "x86_64-vars": "/v", "aarch64-code": "/ac", "aarch64-vars": "/av" },
};

function spec(over: Partial<VmSpecInput> = {}) {
  return vmSpecSchema.parse({
    name: "vm",
    arch: "x86_64",
    vcpus: 1,
    memoryMb: 256,
    diskGb: 1,
    boot: { type: "kernel", imageId: "img" },
    ...over,
  });
}

function refusal(s: ReturnType<typeof spec>, limits: HostLimits): AgentError {
  try {
    validateSpec(s, limits);
  } catch (err) {
    if (err instanceof AgentError) return err;
    throw err;
  }
  throw new Error("expected a refusal");
}

describe("validateSpec", () => {
  it("a pinned machine type this host's QEMU lacks is refused (409); one it has, or unknown machines, pass", () => {
    const withMachines: HostLimits = {
      ...x86Host,
      machines: {
        x86_64: { default: "pc-q35-7.2", types: ["q35", "pc-q35-7.2", "pc-q35-7.1", "pc-i440fx-7.2"] },
        aarch64: { default: "virt-7.2", types: ["virt", "virt-7.2", "virt-7.1"] },
      },
    };
    const e = refusal(spec({ machineType: "pc-q35-8.2" }), withMachines);
    expect(e.code).toBe("conflict");
    expect(e.httpStatus).toBe(409);
    expect(e.message).toBe(
      "this host's QEMU has no machine type pc-q35-8.2 for x86_64 (its q35 is pc-q35-7.2); " +
        "the VM is pinned to it, so it can run only on a host whose QEMU has it",
    );
    expect(refusal(spec({ arch: "aarch64", machineType: "virt-9.0" }), withMachines).code).toBe("conflict");
    expect(() => validateSpec(spec({ machineType: "pc-q35-7.1" }), withMachines)).not.toThrow();
    expect(() => validateSpec(spec({ arch: "aarch64", machineType: "virt-7.2" }), withMachines)).not.toThrow();
    expect(() => validateSpec(spec({ machineType: "pc-q35-8.2" }), x86Host)).not.toThrow(); // machines unknown
    // another board family: the agent's command line is for q35 / virt only (422)
    const family = refusal(spec({ machineType: "pc-i440fx-7.2" }), withMachines);
    expect([family.code, family.message]).toEqual([
      "invalid",
      "machine type pc-i440fx-7.2 is not a q35 machine type (x86_64 VMs run on q35)",
    ]);
    expect(refusal(spec({ arch: "aarch64", machineType: "pc-q35-7.2" }), withMachines).code).toBe("invalid");
  });

  it("refuses a display the arch cannot have (before anything touches the disk)", () => {
    const e = refusal(spec({ display: "none" }), x86Host);
    expect(e.code).toBe("invalid");
    expect(e.message).toMatch(/display none is not available for x86_64/);
    expect(refusal(spec({ arch: "aarch64", display: "vga" }), x86Host).message).toMatch(/display vga/);
    expect(() => validateSpec(spec({ arch: "aarch64", display: "ramfb" }), x86Host)).not.toThrow();
  });

  it("native x86 on an x86 KVM host", () => {
    expect(validateSpec(spec(), x86Host)).toMatchObject({
      accel: "kvm",
      emulated: false,
      binary: "/usr/bin/qemu-system-x86_64",
      uefi: null,
    });
  });

  it("aarch64 on an x86 host is emulated and disk boot uses AAVMF", () => {
    const s = spec({ arch: "arm64", boot: { type: "disk", imageId: "img", format: "qcow2", firmware: "bios" } });
    expect(validateSpec(s, x86Host)).toMatchObject({
      accel: "tcg",
      emulated: true,
      uefi: { code: "/ac", varsTemplate: "/av" },
    });
  });

  it("refuses emulation when the VM does not allow it (409)", () => {
    const e = refusal(spec({ arch: "aarch64", allowEmulation: false }), x86Host);
    expect(e.code).toBe("conflict");
    expect(e.httpStatus).toBe(409);
    expect(e.message).toBe(
      "this host runs x86_64 natively (KVM) and can emulate aarch64; " +
        "it cannot run aarch64 natively (it is an x86_64 host) and this VM does not allow emulation",
    );
  });

  it("refuses an arch without a QEMU binary (409)", () => {
    const e = refusal(spec({ arch: "aarch64" }), { ...x86Host, binaries: { x86_64: "/q" } });
    expect(e.code).toBe("conflict");
    expect(e.message).toBe(
      "this host runs x86_64 natively (KVM); it cannot run aarch64 (qemu-system-aarch64 is not installed)",
    );
  });

  it("without KVM the host arch still runs natively, under TCG (not marked emulated)", () => {
    const noKvm = { ...x86Host, kvm: false };
    expect(describeHost(noKvm)).toBe("runs x86_64 natively (no KVM: TCG) and can emulate aarch64");
    expect(validateSpec(spec({ allowEmulation: false }), noKvm)).toMatchObject({ accel: "tcg", emulated: false });
    expect(refusal(spec({ arch: "aarch64", allowEmulation: false }), noKvm).message).toMatch(/it is an x86_64 host/);
  });

  it("refuses more vCPUs or memory than the host has (422)", () => {
    const cpu = refusal(spec({ vcpus: 9 }), x86Host);
    expect(cpu.code).toBe("invalid");
    expect(cpu.httpStatus).toBe(422);
    expect(cpu.message).toBe("9 vCPUs requested; this host has 8 CPUs");
    expect(refusal(spec({ memoryMb: 20000 }), x86Host).message).toBe(
      "20000 MiB of memory requested; this host has 16384 MiB in total",
    );
    expect(refusal(spec({ vcpus: 300 }), { ...x86Host, cpuCount: 512 }).message).toMatch(/at most 255/);
  });

  it("refuses UEFI disks without firmware (409)", () => {
    const s = spec({ boot: { type: "disk", imageId: "img", format: "qcow2", firmware: "uefi" } });
    const e = refusal(s, { ...x86Host, firmware: {} });
    expect(e.code).toBe("conflict");
    expect(e.message).toMatch(/OVMF/);
    // BIOS x86 disks need no firmware files
    expect(
      validateSpec(spec({ boot: { type: "disk", imageId: "img", format: "raw", firmware: "bios" } }), {
        ...x86Host,
        firmware: {},
      }).uefi,
    ).toBeNull();
  });

  it("serialises like the agent API error shape", () => {
    expect(new AgentError("not_found", "no VM x").toJSON()).toEqual({
      error: { code: "not_found", message: "no VM x" },
    });
  });
});
