// VmManager create and update with real QEMU under TCG (fixtures and bookkeeping: testing/vm-rig.ts):
// refused specs leave nothing behind, a failed start cleans up, disk boot through SeaBIOS/OVMF/AAVMF,
// concurrent PUTs, NIC ports.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ARCHES, type Arch, qemuBinaryFor } from "../../../lib/arch";
import type { VmSpecInput } from "../../../lib/schemas/agent-api";
import { binaries, findFixture, firmware, hasQemuImg, kernelSpec, pidsUsing, vmRig, waitFor } from "../testing/vm-rig";
import { AgentError } from "./errors";

const rig = vmRig();
const { makeManager, serialLog } = rig;

// ---- validation: nothing is created for a refused spec ---------------------------------------

describe.skipIf(!hasQemuImg)(`VmManager validation${hasQemuImg ? "" : " (skipped: qemu-img not installed)"}`, () => {
  it("refuses invalid and impossible specs before any side effect", async () => {
    const mgr = makeManager({ hostLimits: { cpuCount: 2, memoryMb: 4096 } });
    await mgr.init();
    const cases: Array<[string, VmSpecInput, AgentError["code"], RegExp]> = [
      ["bad-1", { ...kernelSpec("x86_64"), vcpus: 0 }, "invalid", /vcpus/],
      ["bad-2", { ...kernelSpec("x86_64"), vcpus: 4 }, "invalid", /4 vCPUs requested; this host has 2 CPUs/],
      ["bad-3", { ...kernelSpec("x86_64"), memoryMb: 8192 }, "invalid", /8192 MiB/],
      ["bad-4", { ...kernelSpec("aarch64"), allowEmulation: false }, "conflict", /cannot run aarch64 natively/],
      [
        "bad-5",
        { ...kernelSpec("x86_64"), nics: [{ id: "n0", mac: "52:54:00:00:00:01", vlan: 0 }] },
        "conflict",
        /network driver/,
      ],
      [
        "bad-6",
        { ...kernelSpec("x86_64"), boot: { type: "kernel", imageId: "nosuch", cmdline: "" } },
        "unavailable",
        /no fixture|nosuch/,
      ],
    ];
    for (const [id, spec, code, re] of cases) {
      const err = await mgr.apply(id, spec).catch((e: unknown) => e);
      expect(err, id).toBeInstanceOf(AgentError);
      expect((err as AgentError).code, id).toBe(code);
      expect((err as AgentError).message, id).toMatch(re);
      expect(existsSync(path.join(rig.stateDir, "vms", id)), id).toBe(false);
    }
    await expect(mgr.apply("../etc", kernelSpec("x86_64"))).rejects.toMatchObject({ code: "invalid" });
    await expect(mgr.get("nope")).rejects.toMatchObject({ code: "not_found" });
    await expect(mgr.action("nope", "start")).rejects.toMatchObject({ code: "not_found" });
    await expect(mgr.delete("nope")).rejects.toMatchObject({ code: "not_found" });
    expect(await mgr.list()).toEqual([]);
  });

  it.skipIf(!binaries.x86_64)("cleans up everything when QEMU fails to start", async () => {
    const junk = path.join(rig.stateDir, "junk-kernel");
    writeFileSync(junk, "not a kernel");
    const mgr = makeManager({}, { x86_64: { kernel: junk } });
    const err = await mgr.apply("broken", kernelSpec("x86_64")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect((err as AgentError).code).toBe("unavailable");
    expect((err as AgentError).message).toMatch(/QEMU exited during start/);
    expect(existsSync(path.join(rig.stateDir, "vms", "broken"))).toBe(false);
    expect(await mgr.list()).toEqual([]);
  });
});

// ---- disk boot of the fixture's bootable image: SeaBIOS, OVMF, AAVMF ------------------------

const diskCases: Array<[Arch, "bios" | "uefi"]> = [
  ["x86_64", "bios"],
  ["x86_64", "uefi"],
  ["aarch64", "uefi"], // aarch64 disks always boot through UEFI
];
for (const [arch, fw] of diskCases) {
  const fx = findFixture(arch);
  const fwMissing = fw === "uefi" && (!firmware[`${arch}-code`] || !firmware[`${arch}-vars`]);
  const skip = !binaries[arch]
    ? `${qemuBinaryFor(arch)} not installed`
    : !hasQemuImg
      ? "qemu-img not installed"
      : !fx?.disk
        ? `no bootable fixture disk for ${arch}`
        : fwMissing
          ? "UEFI firmware not installed"
          : null;
  describe.skipIf(skip !== null)(`disk boot, ${arch} ${fw}${skip ? ` (skipped: ${skip})` : ""}`, () => {
    it("boots a qcow2 overlay of the image to the marker", async () => {
      const mgr = makeManager({}, { [arch]: { disk: fx!.disk } });
      const id = `disk-${arch.replace("_", "-")}-${fw}`;
      const t0 = Date.now();
      const res = await mgr.apply(id, {
        name: id,
        arch,
        vcpus: 1,
        memoryMb: 256,
        diskGb: 1,
        boot: { type: "disk", imageId: `disk-${arch}`, format: fx!.diskFormat ?? "qcow2", firmware: fw },
      });
      expect(res.status.powerState).toBe("running");
      const dir = path.join(rig.stateDir, "vms", id);
      const info = JSON.parse(
        execFileSync("qemu-img", ["info", "-U", "--output=json", path.join(dir, "disk.qcow2")], { encoding: "utf8" }),
      ) as Record<string, unknown>;
      expect(info["backing-filename"]).toBe(fx!.disk);
      expect(info["virtual-size"]).toBe(1024 ** 3);
      const argv = readFileSync(`/proc/${res.status.pid}/cmdline`, "utf8").split("\0");
      const vars = path.join(dir, "vars.fd");
      if (fw === "uefi") {
        // this VM's own copy of the vars store, same size as the template, sparse on disk
        expect(statSync(vars).size).toBe(statSync(firmware[`${arch}-vars`]!).size);
        expect(statSync(vars).blocks * 512).toBeLessThanOrEqual(statSync(firmware[`${arch}-vars`]!).size);
        expect(argv).toContain(`if=pflash,unit=1,format=raw,file=${vars}`);
      } else {
        expect(existsSync(vars)).toBe(false);
        expect(argv.some((a) => a.includes("pflash"))).toBe(false);
      }
      await waitFor(`${arch} ${fw} disk boot marker`, () => serialLog(id).includes(fx!.marker), 150_000, 250);
      console.log(`[timing] ${arch} ${fw} disk boot: apply -> marker in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      await mgr.delete(id);
      expect(existsSync(dir)).toBe(false);
    }, 300_000); // UEFI firmware + GRUB under TCG on a loaded 2-core machine
  });
}

// ---- concurrency and NICs (no need to wait for a guest OS) ----------------------------------------

const quickArch: Arch | undefined = ARCHES.find((a) => binaries[a] && findFixture(a));

describe.skipIf(!quickArch || !hasQemuImg)(
  `VmManager plumbing${!quickArch ? " (skipped: no qemu/fixture)" : ""}`,
  () => {
    it("concurrent PUTs of a new VM start exactly one QEMU", async () => {
      const mgr = makeManager();
      const id = "twice";
      const [a, b] = await Promise.all([mgr.apply(id, kernelSpec(quickArch!)), mgr.apply(id, kernelSpec(quickArch!))]);
      expect([a.created, b.created].sort()).toEqual([false, true]);
      expect(a.status.pid).toBe(b.status.pid);
      expect(pidsUsing([path.join(rig.stateDir, "vms", id)])).toEqual([a.status.pid]);
      await mgr.delete(id);
    });

    it("NICs: ports come from the network driver, QEMU opens the taps, delete removes the ports", async () => {
      if (!existsSync("/dev/net/tun") || process.getuid?.() !== 0) return; // taps need root + /dev/net/tun
      const calls: string[] = [];
      const suffix = String(process.pid % 10000);
      // QEMU creates a non-persistent tap by name when it does not exist: isolated (no bridge, down).
      const network = {
        addPort: async (vmId: string, nic: { id: string }) => {
          calls.push(`add ${vmId} ${nic.id}`);
          return `pat${suffix}${nic.id}`;
        },
        removePort: async (vmId: string, nic: { id: string }, tap: string) => {
          calls.push(`remove ${vmId} ${nic.id} ${tap}`);
        },
        applyFirewall: async (vmId: string, nicId: string, fw: { rules: unknown[] } | null) => {
          calls.push(`firewall ${vmId} ${nicId} ${fw ? fw.rules.length : "none"}`);
        },
      };
      const mgr = makeManager({ network });
      const id = "with-nics";
      const res = await mgr.apply(
        id,
        kernelSpec(quickArch!, {
          nics: [
            { id: "n0", mac: "52:54:00:aa:00:01", vlan: 10 },
            { id: "n1", mac: "52:54:00:aa:00:02", vlan: 0 },
          ],
        }),
      );
      expect(res.status.powerState).toBe("running");
      expect(calls).toEqual([`add ${id} n0`, `add ${id} n1`]);
      expect(existsSync(`/sys/class/net/pat${suffix}n0`)).toBe(true);
      const argv = readFileSync(`/proc/${res.status.pid}/cmdline`, "utf8").split("\0");
      expect(argv).toContain(`tap,id=net-n0,ifname=pat${suffix}n0,script=no,downscript=no,vnet_hdr=off`);
      expect(argv).toContain("virtio-net-pci,id=nic-n1,netdev=net-n1,mac=52:54:00:aa:00:02,csum=off,guest_csum=off");
      // Changing NICs needs a stopped VM; then only the changed NIC's port is replaced.
      await expect(
        mgr.apply(id, kernelSpec(quickArch!, { nics: [{ id: "n0", mac: "52:54:00:aa:00:01", vlan: 11 }] })),
      ).rejects.toMatchObject({ code: "conflict" });
      await mgr.action(id, "poweroff");
      calls.length = 0;
      await mgr.apply(
        id,
        kernelSpec(quickArch!, {
          powerState: "stopped",
          nics: [
            { id: "n0", mac: "52:54:00:aa:00:01", vlan: 11 },
            { id: "n1", mac: "52:54:00:aa:00:02", vlan: 0 },
          ],
        }),
      );
      expect(calls).toEqual([`remove ${id} n0 pat${suffix}n0`, `add ${id} n0`]);
      // The security-group firewall is no hardware: the plugged ports take it live, stopped or running.
      const allowOut = { direction: "out" as const, protocol: "any" as const, remoteCidrs: ["0.0.0.0/0"] };
      const nicsWith = (firewall: { rules: (typeof allowOut)[] } | null) => [
        { id: "n0", mac: "52:54:00:aa:00:01", vlan: 11, firewall },
        { id: "n1", mac: "52:54:00:aa:00:02", vlan: 0, firewall },
      ];
      calls.length = 0;
      const started = await mgr.apply(id, kernelSpec(quickArch!, { nics: nicsWith({ rules: [allowOut] }) }));
      expect(started.status.powerState).toBe("running");
      expect(calls).toEqual([`firewall ${id} n0 1`, `firewall ${id} n1 1`]);
      calls.length = 0;
      await mgr.apply(id, kernelSpec(quickArch!, { nics: nicsWith(null) })); // running: no conflict
      expect(calls).toEqual([`firewall ${id} n0 none`, `firewall ${id} n1 none`]);
      calls.length = 0;
      await mgr.apply(id, kernelSpec(quickArch!, { nics: nicsWith(null) })); // the same again: nothing
      expect(calls).toEqual([]);
      await mgr.delete(id);
      expect(calls.sort()).toEqual([`remove ${id} n0 pat${suffix}n0`, `remove ${id} n1 pat${suffix}n1`]);
      expect(existsSync(`/sys/class/net/pat${suffix}n0`)).toBe(false); // QEMU's tap went with it
    });
  },
);
