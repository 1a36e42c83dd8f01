import { describe, expect, it } from "vitest";
import type { Arch } from "../../../lib/arch";
import {
  buildQemuArgs,
  chooseAccel,
  escapeOptValue,
  kernelCmdline,
  volumeBlockdev,
  volumeDevice,
  type Accel,
  type QemuLaunchConfig,
} from "./argv";

const dir = "/var/lib/polyarch/vms/vm1";

function cfg(
  arch: Arch,
  accel: Accel,
  boot: "disk" | "kernel",
  over: Partial<QemuLaunchConfig> = {},
): QemuLaunchConfig {
  return {
    id: "vm1",
    name: "web-1",
    guestArch: arch,
    accel,
    vcpus: 2,
    memoryMb: 512,
    disk: `${dir}/disk.qcow2`,
    boot:
      boot === "disk"
        ? {
            type: "disk",
            firmware: arch === "aarch64" ? "uefi" : "bios",
            pflash: { code: `/fw/${arch}-code.fd`, vars: `${dir}/vars.fd` },
          }
        : { type: "kernel", kernel: "/cache/k/vmlinuz", initrd: "/cache/k/initrd.gz", cmdline: "quiet" },
    nics: [],
    qmpSocket: `${dir}/qmp.sock`,
    serialSocket: `${dir}/serial.sock`,
    serialLog: `${dir}/serial.log`,
    pidFile: `${dir}/qemu.pid`,
    ...over,
  };
}

/** value following `flag` (every occurrence) */
function values(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag && i + 1 < args.length ? [args[i + 1]!] : []));
}

describe("chooseAccel", () => {
  it.each([
    ["x86_64", "x86_64", true, "kvm", false],
    ["x86_64", "x86_64", false, "tcg", false],
    ["aarch64", "x86_64", true, "tcg", true],
    ["aarch64", "aarch64", true, "kvm", false],
    ["x86_64", "aarch64", true, "tcg", true],
    ["aarch64", "aarch64", false, "tcg", false],
  ] as const)("guest %s on %s host, kvm=%s -> %s (emulated %s)", (guest, host, kvm, accel, emulated) => {
    expect(chooseAccel(guest, host, kvm)).toEqual({ accel, emulated });
  });
});

// arch × accel × boot: what each combination must and must not contain.
const table: Array<[Arch, Accel, "disk" | "kernel"]> = [];
for (const arch of ["x86_64", "aarch64"] as const)
  for (const accel of ["kvm", "tcg"] as const)
    for (const boot of ["disk", "kernel"] as const) table.push([arch, accel, boot]);

describe.each(table)("buildQemuArgs %s / %s / %s boot", (arch, accel, boot) => {
  const args = buildQemuArgs(cfg(arch, accel, boot));

  it("is an argv array of non-empty strings, never a shell string", () => {
    expect(Array.isArray(args)).toBe(true);
    for (const a of args) {
      expect(typeof a).toBe("string");
      expect(a.length).toBeGreaterThan(0);
    }
  });

  it("always has the common options", () => {
    expect(args).toContain("-no-user-config");
    expect(args).toContain("-nodefaults");
    expect(values(args, "-accel")).toEqual([accel]);
    expect(values(args, "-smp")).toEqual(["2"]);
    expect(values(args, "-m")).toEqual(["512M"]);
    expect(values(args, "-nic")).toEqual(["none"]);
    expect(values(args, "-pidfile")).toEqual([`${dir}/qemu.pid`]);
    expect(values(args, "-name")).toEqual(["guest=web-1,process=pa-vm1"]);
    expect(values(args, "-mon")).toEqual(["chardev=qmp,mode=control"]);
    expect(values(args, "-serial")).toEqual(["chardev:serial0"]);
    const chardevs = values(args, "-chardev");
    expect(chardevs).toContain(`socket,id=qmp,path=${dir}/qmp.sock,server=on,wait=off`);
    expect(chardevs).toContain(
      `socket,id=serial0,path=${dir}/serial.sock,server=on,wait=off,logfile=${dir}/serial.log,logappend=on`,
    );
    expect(args).not.toContain("-daemonize"); // detached spawn instead: QEMU's stderr stays visible
  });

  it("uses the arch's machine and CPU model", () => {
    const machine = values(args, "-machine")[0];
    const cpu = values(args, "-cpu")[0];
    if (arch === "x86_64") {
      expect(machine).toBe("q35");
      expect(cpu).toBe(accel === "kvm" ? "host" : "max");
    } else {
      expect(machine).toBe(accel === "kvm" ? "virt,gic-version=max" : "virt");
      expect(cpu).toBe(accel === "kvm" ? "host" : "cortex-a57");
    }
  });

  it("has the arch's display and input devices", () => {
    const devices = values(args, "-device");
    if (arch === "x86_64") {
      expect(devices).toContain("VGA,id=video0");
      expect(devices.some((d) => d.startsWith("usb-"))).toBe(false);
    } else {
      expect(devices).toContain("virtio-gpu-pci,id=video0");
      expect(devices).toContain("qemu-xhci,id=xhci");
      expect(devices).toContain("usb-kbd,bus=xhci.0");
      expect(devices).toContain("usb-tablet,bus=xhci.0");
      expect(devices.some((d) => d.startsWith("VGA"))).toBe(false);
    }
  });

  it("attaches the qcow2 overlay as virtio-blk", () => {
    const blockdevs = values(args, "-blockdev");
    expect(blockdevs[0]).toBe(
      `driver=file,node-name=disk0-file,filename=${dir}/disk.qcow2,cache.direct=off,discard=unmap`,
    );
    expect(blockdevs[1]).toBe("driver=qcow2,node-name=disk0,file=disk0-file,discard=unmap");
    const blk = values(args, "-device").find((d) => d.startsWith("virtio-blk-pci"));
    expect(blk).toBe(
      boot === "disk" ? "virtio-blk-pci,id=vda,drive=disk0,bootindex=1" : "virtio-blk-pci,id=vda,drive=disk0",
    );
  });

  it("boots the right way", () => {
    const pflash = values(args, "-drive").filter((d) => d.startsWith("if=pflash"));
    if (boot === "kernel") {
      expect(values(args, "-kernel")).toEqual(["/cache/k/vmlinuz"]);
      expect(values(args, "-initrd")).toEqual(["/cache/k/initrd.gz"]);
      expect(values(args, "-append")).toEqual([`console=${arch === "x86_64" ? "ttyS0" : "ttyAMA0"} quiet`]);
      expect(pflash).toEqual([]);
    } else {
      expect(args).not.toContain("-kernel");
      if (arch === "aarch64") {
        expect(pflash).toEqual([
          "if=pflash,unit=0,format=raw,readonly=on,file=/fw/aarch64-code.fd",
          `if=pflash,unit=1,format=raw,file=${dir}/vars.fd`,
        ]);
      } else {
        expect(pflash).toEqual([]); // SeaBIOS
      }
    }
  });
});

describe("pinned machine type and CPU model (issue 14)", () => {
  const machineAndCpu = (c: QemuLaunchConfig) => {
    const args = buildQemuArgs(c);
    return [values(args, "-machine")[0], values(args, "-cpu")[0]];
  };

  it("x86_64: -machine is the pinned type, -cpu the pinned model; each falls back on its own", () => {
    expect(
      machineAndCpu(cfg("x86_64", "tcg", "disk", { machineType: "pc-q35-7.2", cpuModel: "Haswell-noTSX" })),
    ).toEqual(["pc-q35-7.2", "Haswell-noTSX"]);
    expect(machineAndCpu(cfg("x86_64", "kvm", "disk", { machineType: "pc-q35-7.1" }))).toEqual(["pc-q35-7.1", "host"]);
    expect(machineAndCpu(cfg("x86_64", "tcg", "disk", { cpuModel: "EPYC-Rome" }))).toEqual(["q35", "EPYC-Rome"]);
  });

  it("aarch64: virt-7.2 keeps the gic-version suffix of its accelerator and size", () => {
    expect(machineAndCpu(cfg("aarch64", "tcg", "disk", { machineType: "virt-7.2" }))).toEqual([
      "virt-7.2",
      "cortex-a57",
    ]);
    expect(machineAndCpu(cfg("aarch64", "tcg", "disk", { machineType: "virt-7.2", vcpus: 12 }))).toEqual([
      "virt-7.2,gic-version=3",
      "cortex-a57",
    ]);
    expect(machineAndCpu(cfg("aarch64", "kvm", "disk", { machineType: "virt-7.1", cpuModel: "host" }))).toEqual([
      "virt-7.1,gic-version=max",
      "host",
    ]);
    expect(machineAndCpu(cfg("aarch64", "tcg", "disk", { cpuModel: "neoverse-n1" }))).toEqual(["virt", "neoverse-n1"]);
  });

  it("refuses other board families and values that would smuggle options", () => {
    expect(() => buildQemuArgs(cfg("x86_64", "tcg", "disk", { machineType: "pc-i440fx-7.2" }))).toThrow(/not a q35/);
    expect(() => buildQemuArgs(cfg("aarch64", "tcg", "disk", { machineType: "pc-q35-7.2" }))).toThrow(/not a virt/);
    expect(() => buildQemuArgs(cfg("x86_64", "tcg", "disk", { machineType: "q35,accel=kvm" }))).toThrow(/not a q35/);
    expect(() => buildQemuArgs(cfg("x86_64", "tcg", "disk", { cpuModel: "max,+vmx" }))).toThrow(/invalid CPU model/);
  });
});

describe("buildQemuArgs details", () => {
  it("uses OVMF pflash for UEFI x86 disks", () => {
    const args = buildQemuArgs(
      cfg("x86_64", "tcg", "disk", {
        boot: {
          type: "disk",
          firmware: "uefi",
          pflash: { code: "/usr/share/OVMF/OVMF_CODE_4M.fd", vars: `${dir}/vars.fd` },
        },
      }),
    );
    expect(values(args, "-drive")).toEqual([
      "if=pflash,unit=0,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
      `if=pflash,unit=1,format=raw,file=${dir}/vars.fd`,
    ]);
  });

  it("refuses UEFI without firmware files", () => {
    expect(() => buildQemuArgs(cfg("aarch64", "tcg", "disk", { boot: { type: "disk", firmware: "uefi" } }))).toThrow(
      /firmware/,
    );
    // aarch64 disk boot is UEFI even when the image says bios
    expect(() => buildQemuArgs(cfg("aarch64", "tcg", "disk", { boot: { type: "disk", firmware: "bios" } }))).toThrow(
      /firmware/,
    );
  });

  it("NICs: tap netdev without offload, virtio-net with checksums in the guest", () => {
    const args = buildQemuArgs(
      cfg("x86_64", "kvm", "disk", {
        nics: [
          { id: "n0", mac: "52:54:00:12:34:56", tap: "pa-vm1-n0" },
          { id: "n1", mac: "52:54:00:12:34:57", tap: "pa-vm1-n1" },
        ],
      }),
    );
    expect(args).not.toContain("-nic");
    expect(values(args, "-netdev")).toEqual([
      "tap,id=net-n0,ifname=pa-vm1-n0,script=no,downscript=no,vnet_hdr=off",
      "tap,id=net-n1,ifname=pa-vm1-n1,script=no,downscript=no,vnet_hdr=off",
    ]);
    expect(values(args, "-device").filter((d) => d.startsWith("virtio-net-pci"))).toEqual([
      "virtio-net-pci,id=nic-n0,netdev=net-n0,mac=52:54:00:12:34:56,csum=off,guest_csum=off",
      "virtio-net-pci,id=nic-n1,netdev=net-n1,mac=52:54:00:12:34:57,csum=off,guest_csum=off",
    ]);
  });

  it.each([
    [{ id: "n0", mac: "52:54:00:12:34:56", tap: "tap,script=/bin/sh" }, /tap name/],
    [{ id: "n0", mac: "52:54:00:12:34:56", tap: "a-very-long-tap-name" }, /tap name/],
    [{ id: "n0", mac: "52:54:00:12:34:56,x=y", tap: "tap0" }, /MAC/],
    [{ id: "n0,x", mac: "52:54:00:12:34:56", tap: "tap0" }, /NIC id/],
  ])("rejects unsafe NIC %j", (nic, re) => {
    expect(() => buildQemuArgs(cfg("x86_64", "tcg", "disk", { nics: [nic] }))).toThrow(re);
  });

  it("escapes commas in option values and rejects them in raw kernel paths", () => {
    const args = buildQemuArgs(
      cfg("x86_64", "tcg", "kernel", { disk: "/data/a,b/disk.qcow2", serialLog: "/x,y/serial.log" }),
    );
    expect(values(args, "-blockdev")[0]).toContain("filename=/data/a,,b/disk.qcow2,");
    expect(values(args, "-chardev")[1]).toContain("logfile=/x,,y/serial.log,");
    expect(escapeOptValue("a,b,,c")).toBe("a,,b,,,,c");
    expect(() =>
      buildQemuArgs(cfg("x86_64", "tcg", "kernel", { boot: { type: "kernel", kernel: "/k,1", cmdline: "" } })),
    ).toThrow(/','/);
  });

  it("rejects newlines and bad names", () => {
    expect(() =>
      buildQemuArgs(cfg("x86_64", "tcg", "kernel", { boot: { type: "kernel", kernel: "/k", cmdline: "a\nb" } })),
    ).toThrow(/control/);
    expect(() => buildQemuArgs(cfg("x86_64", "tcg", "kernel", { name: "a,b" }))).toThrow(/name/);
    expect(() => buildQemuArgs(cfg("x86_64", "tcg", "kernel", { id: "../x" }))).toThrow(/id/);
  });

  it("keeps an image's own console= and omits -initrd when there is none", () => {
    const args = buildQemuArgs(
      cfg("aarch64", "tcg", "kernel", { boot: { type: "kernel", kernel: "/k", cmdline: "console=hvc0 rw" } }),
    );
    expect(values(args, "-append")).toEqual(["console=hvc0 rw"]);
    expect(args).not.toContain("-initrd");
    expect(kernelCmdline("x86_64", "")).toBe("console=ttyS0");
  });

  it("aarch64 TCG guests above 8 vCPUs get an emulated GICv3", () => {
    expect(values(buildQemuArgs(cfg("aarch64", "tcg", "kernel", { vcpus: 9 })), "-machine")).toEqual([
      "virt,gic-version=3",
    ]);
  });

  it("VNC on a unix socket replaces -display none; sandbox can be switched off", () => {
    const args = buildQemuArgs(cfg("x86_64", "tcg", "kernel", { vncSocket: `${dir}/vnc.sock`, sandbox: false }));
    expect(values(args, "-vnc")).toEqual([`unix:${dir}/vnc.sock,share=force-shared`]);
    expect(args).not.toContain("-display");
    expect(args).not.toContain("-sandbox");
  });

  it("display choices: x86_64 always VGA; aarch64 none, virtio-gpu or ramfb", () => {
    const vnc = `${dir}/vnc.sock`;
    const x86 = buildQemuArgs(cfg("x86_64", "kvm", "disk", { display: "vga", vncSocket: vnc }));
    expect(values(x86, "-device")).toContain("VGA,id=video0");
    expect(values(x86, "-vnc")).toEqual([`unix:${vnc},share=force-shared`]);
    for (const bad of ["none", "virtio-gpu", "ramfb"] as const) {
      expect(() => buildQemuArgs(cfg("x86_64", "kvm", "disk", { display: bad }))).toThrow(/not available for x86_64/);
    }
    expect(() => buildQemuArgs(cfg("aarch64", "tcg", "disk", { display: "vga" }))).toThrow(/not available for aarch64/);

    // none: no GPU, no USB input, no VNC server even when a socket is offered
    const none = buildQemuArgs(cfg("aarch64", "tcg", "kernel", { display: "none", vncSocket: vnc }));
    expect(values(none, "-display")).toEqual(["none"]);
    expect(none).not.toContain("-vnc");
    expect(values(none, "-device").filter((d) => /gpu|ramfb|xhci|usb-|VGA/.test(d))).toEqual([]);

    const gpu = buildQemuArgs(cfg("aarch64", "tcg", "disk", { display: "virtio-gpu", vncSocket: vnc }));
    expect(values(gpu, "-device")).toEqual(
      expect.arrayContaining([
        "virtio-gpu-pci,id=video0",
        "qemu-xhci,id=xhci",
        "usb-kbd,bus=xhci.0",
        "usb-tablet,bus=xhci.0",
      ]),
    );
    expect(values(gpu, "-vnc")).toEqual([`unix:${vnc},share=force-shared`]);

    const ramfb = buildQemuArgs(cfg("aarch64", "tcg", "disk", { display: "ramfb", vncSocket: vnc }));
    expect(values(ramfb, "-device")).toContain("ramfb,id=video0");
    expect(values(ramfb, "-device").some((d) => d.startsWith("virtio-gpu"))).toBe(false);
    expect(values(ramfb, "-device")).toContain("usb-tablet,bus=xhci.0");

    // a display without a VNC socket still has its device (the guest sees the same hardware)
    const headless = buildQemuArgs(cfg("aarch64", "tcg", "disk", { display: "virtio-gpu" }));
    expect(values(headless, "-display")).toEqual(["none"]);
    expect(values(headless, "-device")).toContain("virtio-gpu-pci,id=video0");
  });

  it("a VNC socket path with a comma is escaped, one with a newline refused", () => {
    expect(values(buildQemuArgs(cfg("x86_64", "tcg", "kernel", { vncSocket: "/run/a,b/vnc.sock" })), "-vnc")).toEqual([
      "unix:/run/a,,b/vnc.sock,share=force-shared",
    ]);
    expect(() => buildQemuArgs(cfg("x86_64", "tcg", "kernel", { vncSocket: "/run/a\nb" }))).toThrow(
      /control character/,
    );
  });

  it("no disk: no blockdev", () => {
    const args = buildQemuArgs(cfg("x86_64", "tcg", "kernel", { disk: undefined }));
    expect(args).not.toContain("-blockdev");
  });
});

// ---- CD drive, ISO installs, reserved root ports, volumes (ADR 030) --------------------------

const iso = (arch: Arch, firmware: "bios" | "uefi", over: Partial<QemuLaunchConfig> = {}) =>
  cfg(arch, "tcg", "disk", {
    boot: {
      type: "iso",
      firmware,
      pflash: firmware === "uefi" ? { code: `/fw/${arch}-code.fd`, vars: `${dir}/vars.fd` } : undefined,
    },
    cdrom: "/cache/iso1/disk",
    ...over,
  });

describe("buildQemuArgs: CD drive, ISO boot, volumes", () => {
  it("every VM has one empty CD drive cd0: x86 AHCI ide-cd (not the seed's port), aarch64 scsi-cd on virtio-scsi", () => {
    const x86 = values(buildQemuArgs(cfg("x86_64", "tcg", "kernel")), "-device");
    expect(x86.filter((d) => d.startsWith("ide-cd"))).toEqual(["ide-cd,id=cd0,bus=ide.3"]);
    const arm = values(buildQemuArgs(cfg("aarch64", "tcg", "disk")), "-device");
    expect(arm.filter((d) => /scsi/.test(d))).toEqual([
      "virtio-scsi-pci,id=scsi0",
      "scsi-cd,id=cd0,bus=scsi0.0,scsi-id=1,lun=0",
    ]);
    // an empty drive has no medium node
    expect(values(buildQemuArgs(cfg("x86_64", "tcg", "disk")), "-blockdev").some((b) => b.includes("cd0"))).toBe(false);
  });

  it("the seed shares the controller with cd0 and keeps its own port; neither is bootable", () => {
    const x86 = values(buildQemuArgs(cfg("x86_64", "tcg", "disk", { seedIso: `${dir}/seed.iso` })), "-device");
    expect(x86.filter((d) => d.startsWith("ide-cd"))).toEqual([
      "ide-cd,id=cidata,bus=ide.2,drive=seed0",
      "ide-cd,id=cd0,bus=ide.3",
    ]);
    const arm = values(buildQemuArgs(cfg("aarch64", "tcg", "kernel", { seedIso: `${dir}/seed.iso` })), "-device");
    expect(arm.filter((d) => /scsi/.test(d))).toEqual([
      "virtio-scsi-pci,id=scsi0",
      "scsi-cd,id=cidata,bus=scsi0.0,scsi-id=0,lun=0,drive=seed0",
      "scsi-cd,id=cd0,bus=scsi0.0,scsi-id=1,lun=0",
    ]);
  });

  it("a medium in a disk-boot VM is a read-only raw blockdev, not in the boot order", () => {
    const args = buildQemuArgs(cfg("x86_64", "tcg", "disk", { cdrom: "/cache/a,b/disk" }));
    expect(values(args, "-blockdev").filter((b) => b.includes("cd0"))).toEqual([
      "driver=file,node-name=cd0-medium-file,filename=/cache/a,,b/disk,read-only=on",
      "driver=raw,node-name=cd0-medium,file=cd0-medium-file,read-only=on",
    ]);
    expect(values(args, "-device")).toContain("ide-cd,id=cd0,bus=ide.3,drive=cd0-medium");
    expect(values(args, "-device")).toContain("virtio-blk-pci,id=vda,drive=disk0,bootindex=1");
  });

  it.each([
    ["x86_64", "bios"],
    ["x86_64", "uefi"],
    ["aarch64", "uefi"],
  ] as const)("ISO boot %s/%s: CD first, the blank disk second, firmware per arch", (arch, firmware) => {
    const args = buildQemuArgs(iso(arch, firmware));
    const devices = values(args, "-device");
    expect(devices).toContain("virtio-blk-pci,id=vda,drive=disk0,bootindex=1");
    expect(devices).toContain(
      arch === "x86_64"
        ? "ide-cd,id=cd0,bus=ide.3,drive=cd0-medium,bootindex=0"
        : "scsi-cd,id=cd0,bus=scsi0.0,scsi-id=1,lun=0,drive=cd0-medium,bootindex=0",
    );
    expect(values(args, "-blockdev")).toContain("driver=raw,node-name=cd0-medium,file=cd0-medium-file,read-only=on");
    expect(args).not.toContain("-kernel");
    const pflash = values(args, "-drive");
    if (firmware === "uefi") expect(pflash[0]).toBe(`if=pflash,unit=0,format=raw,readonly=on,file=/fw/${arch}-code.fd`);
    else expect(pflash).toEqual([]); // SeaBIOS
  });

  it("UEFI ISO boot without firmware files is refused", () => {
    expect(() => buildQemuArgs(iso("aarch64", "uefi", { boot: { type: "iso", firmware: "uefi" } }))).toThrow(
      /UEFI boot of an aarch64 iso needs firmware/,
    );
  });

  it.each(["x86_64", "aarch64"] as const)(
    "%s reserves 8 PCIe root ports in one slot, after every other device",
    (arch) => {
      for (const boot of ["disk", "kernel"] as const) {
        const args = buildQemuArgs(
          cfg(arch, "tcg", boot, { nics: [{ id: "n1", mac: "52:54:00:00:00:01", tap: "t1" }] }),
        );
        const devices = values(args, "-device");
        const ports = devices.filter((d) => d.startsWith("pcie-root-port"));
        expect(ports).toEqual(
          Array.from(
            { length: 8 },
            (_, i) =>
              `pcie-root-port,id=rp${i},bus=pcie.0,chassis=${i + 1},port=${16 + i},addr=0x1c.${i}${i === 0 ? ",multifunction=on" : ""}`,
          ),
        );
        // Devices that QEMU addresses automatically come first and in the old order: their slots do not move.
        const firstPort = devices.findIndex((d) => d.startsWith("pcie-root-port"));
        expect(devices.slice(firstPort).every((d) => d.startsWith("pcie-root-port"))).toBe(true);
        const order = devices.map((d) => d.split(",")[0]);
        expect(order.indexOf("virtio-blk-pci")).toBeLessThan(order.indexOf("virtio-net-pci"));
      }
    },
  );

  it("volumes attached at start sit on their root port with a short serial", () => {
    const args = buildQemuArgs(
      cfg("aarch64", "tcg", "kernel", {
        volumes: [
          { port: 3, path: "/state/volumes/v,1.qcow2", serial: "clx0123456789abcdefg" },
          { port: 0, path: "/state/volumes/v2.qcow2", serial: "v2" },
        ],
      }),
    );
    const devices = values(args, "-device");
    expect(devices.filter((d) => d.startsWith("virtio-blk-pci,id=vol"))).toEqual([
      "virtio-blk-pci,id=vol3,drive=vol3,bus=rp3,serial=clx0123456789abcdefg",
      "virtio-blk-pci,id=vol0,drive=vol0,bus=rp0,serial=v2",
    ]);
    expect(values(args, "-blockdev")).toContain(
      "driver=qcow2,node-name=vol3,discard=unmap,file.driver=file,file.filename=/state/volumes/v,,1.qcow2,file.cache.direct=off,file.discard=unmap",
    );
    // the devices come after their root ports
    expect(devices.indexOf("virtio-blk-pci,id=vol0,drive=vol0,bus=rp0,serial=v2")).toBeGreaterThan(
      devices.findIndex((d) => d.startsWith("pcie-root-port,id=rp7")),
    );
  });

  it("refuses two volumes on one port, ports out of range and bad serials", () => {
    const v = (port: number, serial = "s") => ({ port, path: `/v/${port}.qcow2`, serial });
    expect(() => buildQemuArgs(cfg("x86_64", "tcg", "kernel", { volumes: [v(1), v(1)] }))).toThrow(/two volumes/);
    expect(() => buildQemuArgs(cfg("x86_64", "tcg", "kernel", { volumes: [v(8)] }))).toThrow(/0\.\.7/);
    expect(() => buildQemuArgs(cfg("x86_64", "tcg", "kernel", { volumes: [v(1, "a,b")] }))).toThrow(/serial/);
    expect(() => buildQemuArgs(cfg("x86_64", "tcg", "kernel", { volumes: [v(1, "x".repeat(21))] }))).toThrow(/serial/);
  });

  it("hot-plug arguments match the ones given at start", () => {
    expect(volumeBlockdev(2, "/state/volumes/a.qcow2")).toEqual({
      driver: "qcow2",
      "node-name": "vol2",
      discard: "unmap",
      file: { driver: "file", filename: "/state/volumes/a.qcow2", cache: { direct: false }, discard: "unmap" },
    });
    expect(volumeDevice(2, "abc")).toEqual({
      driver: "virtio-blk-pci",
      id: "vol2",
      drive: "vol2",
      bus: "rp2",
      serial: "abc",
    });
    expect(() => volumeBlockdev(0, "/a\nb")).toThrow(/control character/);
  });
});
