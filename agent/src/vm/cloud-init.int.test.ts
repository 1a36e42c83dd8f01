// cloud-init NoCloud seed: file contents (unit), the ISO genisoimage builds (isoinfo reads it
// back), and real x86_64 + aarch64 guests under TCG that mount the seed CD and print what they got.
// Every QEMU started here is found by its state dir in /proc and SIGKILLed afterwards.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ARCHES, normalizeArch, qemuBinaryFor, type Arch } from "../../../lib/arch";
import type { VmSpecInput } from "../../../lib/schemas/agent-api";
import { buildQemuArgs } from "../qemu";
import { ensureSeedIso, networkConfig, renderSeed } from "./cloud-init";
import { AgentError } from "./errors";
import { VmManager } from "./manager";

/** The guest's last seed line, whole: the serial port delivers a line a character at a time. */
const SEED_KEY_LINE = /POLYARCH-SEED key=[^\r\n]*\r\n/;

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "../../..");
const hostArch: Arch = normalizeArch(os.machine()) ?? "x86_64";
const KEY1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHbEv4XGmS8lyE3FsYiF5yv3t8u3oXPBq6n4Jm8Fq2dX alice@laptop";
const KEY2 = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7 bob";

function which(bin: string): string | null {
  for (const dir of (process.env.PATH ?? "").split(":"))
    if (dir && existsSync(path.join(dir, bin))) return path.join(dir, bin);
  return null;
}
const hasGeniso = Boolean(which("genisoimage"));
const hasIsoinfo = Boolean(which("isoinfo"));

let tmp = "";
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), "pa-ci-"));
});

describe("renderSeed", () => {
  it("writes meta-data (instance-id, hostname, keys) and a #cloud-config user-data", () => {
    const f = renderSeed("vm-1", { nics: [], cloudInit: { hostname: "web-1", sshKeys: [KEY1, ` ${KEY2} `] } });
    expect(f["meta-data"]).toBe(
      `instance-id: "vm-1"\nlocal-hostname: "web-1"\npublic-keys:\n  - "${KEY1}"\n  - "${KEY2}"\n`,
    );
    expect(f["user-data"]).toBe(
      `#cloud-config\nhostname: "web-1"\nssh_authorized_keys:\n  - "${KEY1}"\n  - "${KEY2}"\n`,
    );
    expect(f["network-config"]).toBeUndefined();
  });

  it("keeps the user's own user-data verbatim (keys still reach the guest through meta-data)", () => {
    const ud = "#cloud-config\npackages: [nginx]\n";
    const f = renderSeed("vm-2", { nics: [], cloudInit: { hostname: "h", sshKeys: [KEY1], userData: ud } });
    expect(f["user-data"]).toBe(ud);
    expect(f["meta-data"]).toContain(`public-keys:\n  - "${KEY1}"`);
    expect(
      renderSeed("vm-2", { nics: [], cloudInit: { hostname: "h", sshKeys: [], userData: "#!/bin/sh\necho hi\n" } })[
        "user-data"
      ],
    ).toMatch(/^#!/);
    expect(renderSeed("vm-2", { nics: [], cloudInit: { hostname: "h", sshKeys: [] } })["meta-data"]).not.toContain(
      "public-keys",
    );
  });

  it("refuses bad user-data, hostnames and keys with a clear message", () => {
    const bad: Array<[Parameters<typeof renderSeed>[1]["cloudInit"], RegExp]> = [
      [{ hostname: "h", sshKeys: [], userData: "packages: [x]" }, /#cloud-config/],
      [{ hostname: "bad name", sshKeys: [] }, /hostname/],
      [{ hostname: "h\nx: y", sshKeys: [] }, /hostname/],
      [{ hostname: "h", sshKeys: ["not a key"] }, /sshKeys\[0\]/],
      [{ hostname: "h", sshKeys: [`${KEY1}\n- injected`] }, /sshKeys\[0\]/],
    ];
    for (const [ci, re] of bad) {
      const err = (() => {
        try {
          renderSeed("x", { nics: [], cloudInit: ci });
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(AgentError);
      expect((err as AgentError).code).toBe("invalid");
      expect((err as AgentError).message).toMatch(re);
    }
  });

  it("network-config v2 matches NICs by MAC; static address + default route, DHCP for the rest", () => {
    const nics = [
      { id: "n0", mac: "52:54:00:00:00:01", vlan: 10, ip: "10.0.0.5", prefixLength: 24, gateway: "10.0.0.1" },
      { id: "n1", mac: "52:54:00:00:00:02", vlan: 0 },
    ];
    expect(networkConfig(nics)).toBe(
      [
        "version: 2",
        "ethernets:",
        '  "nic0":',
        "    match:",
        '      macaddress: "52:54:00:00:00:01"',
        "    dhcp4: false",
        '    addresses: ["10.0.0.5/24"]',
        "    routes:",
        '      - to: "0.0.0.0/0"',
        '        via: "10.0.0.1"',
        '  "nic1":',
        "    match:",
        '      macaddress: "52:54:00:00:00:02"',
        "    dhcp4: true",
        "",
      ].join("\n"),
    );
    expect(networkConfig([{ id: "n1", mac: "52:54:00:00:00:02", vlan: 0 }])).toBeNull();
    expect(() =>
      networkConfig([{ id: "n0", mac: "52:54:00:00:00:01", vlan: 0, ip: "10.0.0.x", prefixLength: 24 }]),
    ).toThrow(/IPv4/);
    expect(renderSeed("v", { nics, cloudInit: { hostname: "h", sshKeys: [] } })["network-config"]).toContain(
      "10.0.0.5/24",
    );
  });
});

describe("seed CD in the QEMU argv", () => {
  const base = {
    id: "vm1",
    name: "web-1",
    accel: "tcg" as const,
    vcpus: 1,
    memoryMb: 256,
    nics: [],
    boot: { type: "kernel" as const, kernel: "/k", cmdline: "" },
    qmpSocket: "/d/qmp.sock",
    serialSocket: "/d/serial.sock",
    serialLog: "/d/serial.log",
    pidFile: "/d/qemu.pid",
    seedIso: "/d/seed.iso",
  };
  it("x86_64: read-only ide-cd on q35's AHCI; aarch64: scsi-cd on virtio-scsi; none without a seed", () => {
    const x = buildQemuArgs({ ...base, guestArch: "x86_64" });
    expect(x).toContain("driver=file,node-name=seed0-file,filename=/d/seed.iso,read-only=on");
    expect(x).toContain("ide-cd,id=cidata,bus=ide.2,drive=seed0");
    const a = buildQemuArgs({ ...base, guestArch: "aarch64" });
    expect(a).toContain("virtio-scsi-pci,id=scsi0");
    // target 0 explicitly: the VM's own CD drive cd0 shares the controller at target 1 (ADR 030)
    expect(a).toContain("scsi-cd,id=cidata,bus=scsi0.0,scsi-id=0,lun=0,drive=seed0");
    expect(buildQemuArgs({ ...base, guestArch: "aarch64", seedIso: undefined }).join(" ")).not.toContain("seed0");
  });
});

describe.skipIf(!hasGeniso)(`ensureSeedIso${hasGeniso ? "" : " (skipped: genisoimage not installed)"}`, () => {
  it("builds a cidata ISO with the files, rebuilds only on change, removes it when cloudInit goes", async () => {
    const dir = mkdtempSync(path.join(tmp, "vm-"));
    const spec = {
      nics: [{ id: "n0", mac: "52:54:00:00:00:01", vlan: 0, ip: "10.1.0.9", prefixLength: 16 }],
      cloudInit: { hostname: "seedy", sshKeys: [KEY1] },
    };
    const iso = await ensureSeedIso(dir, "vm-9", spec);
    expect(iso).toBe(path.join(dir, "seed.iso"));
    if (hasIsoinfo) {
      const pvd = execFileSync("isoinfo", ["-d", "-i", iso!], { encoding: "utf8" });
      expect(pvd).toMatch(/Volume id:\s+cidata/);
      const listing = execFileSync("isoinfo", ["-R", "-f", "-i", iso!], { encoding: "utf8" });
      expect(listing.split("\n").sort()).toEqual(
        expect.arrayContaining(["/meta-data", "/network-config", "/user-data"]),
      );
      const ud = execFileSync("isoinfo", ["-R", "-x", "/user-data", "-i", iso!], { encoding: "utf8" });
      expect(ud).toContain('hostname: "seedy"');
    }
    const mtime = statSync(iso!).mtimeMs;
    await new Promise((r) => setTimeout(r, 20));
    await ensureSeedIso(dir, "vm-9", spec);
    expect(statSync(iso!).mtimeMs).toBe(mtime); // same inputs: no rebuild
    await ensureSeedIso(dir, "vm-9", { ...spec, nics: [] });
    expect(existsSync(path.join(dir, "seed", "network-config"))).toBe(false);
    expect(await ensureSeedIso(dir, "vm-9", { nics: [] })).toBeNull();
    expect(readdirSync(dir)).toEqual([]);
  });

  it("reports a missing genisoimage as unavailable", async () => {
    const dir = mkdtempSync(path.join(tmp, "vm-"));
    await expect(
      ensureSeedIso(
        dir,
        "v",
        { nics: [], cloudInit: { hostname: "h", sshKeys: [] } },
        { genisoimage: "/nonexistent/genisoimage" },
      ),
    ).rejects.toMatchObject({
      code: "unavailable",
      message: expect.stringMatching(/genisoimage/),
    });
    expect(existsSync(path.join(dir, "seed.iso"))).toBe(false);
  });
});

// ---- real guests -------------------------------------------------------------------------------

function fixture(arch: Arch): { kernel: string; initrd: string; cmdline: string; disk?: string } | null {
  const dir = path.join(process.env.POLYARCH_FIXTURES_DIR ?? path.join(repoRoot, ".cache/fixtures"), arch);
  const m = path.join(dir, "manifest.json");
  if (!existsSync(m)) return null;
  const man = JSON.parse(readFileSync(m, "utf8")) as { kernel: string; initrd: string; cmdline: string; disk?: string };
  const kernel = path.join(dir, man.kernel);
  const initrd = path.join(dir, man.initrd);
  const disk = man.disk && existsSync(path.join(dir, man.disk)) ? path.join(dir, man.disk) : undefined;
  return existsSync(kernel) && existsSync(initrd) ? { kernel, initrd, cmdline: man.cmdline, disk } : null;
}
const firmware: Record<string, string> = Object.fromEntries(
  (
    [
      ["x86_64-code", "/usr/share/OVMF/OVMF_CODE_4M.fd"],
      ["x86_64-vars", "/usr/share/OVMF/OVMF_VARS_4M.fd"],
      ["aarch64-code", "/usr/share/AAVMF/AAVMF_CODE.fd"],
      ["aarch64-vars", "/usr/share/AAVMF/AAVMF_VARS.fd"],
    ] as const
  ).filter(([, p]) => existsSync(p)),
);

let stateDir = "";
const managers: VmManager[] = [];

function ourQemuPids(): number[] {
  if (!stateDir) return [];
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .map(Number)
    .filter((pid) => {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8");
        return argv.includes("qemu-system-") && argv.includes(stateDir);
      } catch {
        return false;
      }
    });
}
function killOurQemus(): void {
  for (const pid of ourQemuPids()) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone */
    }
  }
}

afterEach(async () => {
  for (const m of managers.splice(0)) await m.close().catch(() => {});
  killOurQemus();
});

afterAll(async () => {
  killOurQemus();
  await new Promise((r) => setTimeout(r, 200));
  expect(ourQemuPids()).toEqual([]);
  rmSync(tmp, { recursive: true, force: true });
});

async function waitFor(what: string, fn: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

for (const arch of ARCHES) {
  const fx = fixture(arch);
  const bin = which(qemuBinaryFor(arch));
  const missing = !bin
    ? `${qemuBinaryFor(arch)} not installed`
    : !which("qemu-img")
      ? "qemu-img not installed"
      : !hasGeniso
        ? "genisoimage not installed"
        : !fx
          ? `no fixture for ${arch} (scripts/fixtures/build.sh)`
          : null;

  describe.skipIf(missing !== null)(
    `cloud-init seed reaches a real ${arch} guest (TCG)${missing ? ` (skipped: ${missing})` : ""}`,
    () => {
      it("the guest mounts the cidata CD and prints the hostname and key; a stopped VM's seed is rebuilt; delete removes it", async () => {
        stateDir ||= mkdtempSync(path.join(tmp, "st-"));
        const mgr = new VmManager({
          stateDir,
          hostArch,
          kvm: false,
          qemuBinaries: { [arch]: bin! },
          firmware,
          resolveImage: async () => ({ kernel: fx!.kernel, initrd: fx!.initrd }),
          stopTimeoutMs: 10_000,
        });
        managers.push(mgr);
        const id = `ci-${arch.replace("_", "-")}`;
        const name = `seeded-${arch === "x86_64" ? "x86" : "arm"}`;
        const spec: VmSpecInput = {
          name,
          arch,
          vcpus: 1,
          memoryMb: 256,
          diskGb: 1,
          boot: { type: "kernel", imageId: `fixture-${arch}`, cmdline: fx!.cmdline },
          cloudInit: { hostname: name, sshKeys: [KEY1, KEY2] },
        };
        const log = path.join(stateDir, "vms", id, "serial.log");
        const serial = () => (existsSync(log) ? readFileSync(log, "utf8") : "");
        const t0 = Date.now();
        await mgr.apply(id, spec);
        await waitFor(`${arch} seed lines`, () => SEED_KEY_LINE.test(serial()), 120_000);
        console.log(`[timing] ${arch}: apply -> seed read in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        const out = serial();
        expect(out).toContain(`POLYARCH-SEED hostname=${name}\r\n`);
        expect(out).toContain(`POLYARCH-SEED key=${KEY1}\r\n`);
        // The device the guest found: ATAPI on AHCI (x86) or SCSI CD on virtio-scsi (arm), both /dev/sr0.
        expect(out).toMatch(/POLYARCH-SEED dev=\/dev\/sr0/);

        // Stopped VM + new cloudInit: the seed on disk is rebuilt by the PUT itself.
        await mgr.action(id, "poweroff");
        await mgr.apply(id, { ...spec, powerState: "stopped", cloudInit: { hostname: "renamed", sshKeys: [KEY2] } });
        const ud = readFileSync(path.join(stateDir, "vms", id, "seed", "user-data"), "utf8");
        expect(ud).toContain('hostname: "renamed"');
        expect(ud).not.toContain(KEY1);

        await mgr.delete(id);
        expect(existsSync(path.join(stateDir, "vms", id))).toBe(false);
        expect(ourQemuPids()).toEqual([]);
      });
    },
  );
}

// Firmware boot with the seed CD attached: the CD must not change the boot order (the disk has
// bootindex=1; the seed has none and is not bootable).
const diskCases: Array<[Arch, "bios" | "uefi"]> = [
  ["x86_64", "bios"],
  ["x86_64", "uefi"],
  ["aarch64", "uefi"],
];
for (const [arch, fw] of diskCases) {
  const fx = fixture(arch);
  const bin = which(qemuBinaryFor(arch));
  const missing = !bin
    ? `${qemuBinaryFor(arch)} not installed`
    : !which("qemu-img") || !hasGeniso
      ? "qemu-img/genisoimage not installed"
      : !fx?.disk
        ? `no fixture disk for ${arch}`
        : fw === "uefi" && !firmware[`${arch}-code`]
          ? "UEFI firmware not installed"
          : null;
  describe.skipIf(missing !== null)(
    `cloud-init seed with a ${arch} ${fw} disk boot${missing ? ` (skipped: ${missing})` : ""}`,
    () => {
      it("boots from the disk and the guest reads the seed", async () => {
        stateDir ||= mkdtempSync(path.join(tmp, "st-"));
        const mgr = new VmManager({
          stateDir,
          hostArch,
          kvm: false,
          qemuBinaries: { [arch]: bin! },
          firmware,
          resolveImage: async () => ({ disk: fx!.disk }),
          stopTimeoutMs: 10_000,
        });
        managers.push(mgr);
        const id = `cid-${arch.replace("_", "-")}-${fw}`;
        const t0 = Date.now();
        await mgr.apply(id, {
          name: id,
          arch,
          vcpus: 1,
          memoryMb: 256,
          diskGb: 1,
          boot: { type: "disk", imageId: `disk-${arch}`, format: "qcow2", firmware: fw },
          cloudInit: { hostname: `host-${fw}`, sshKeys: [KEY2] },
        });
        const log = path.join(stateDir, "vms", id, "serial.log");
        await waitFor(
          `${arch} ${fw} seed lines`,
          () => existsSync(log) && SEED_KEY_LINE.test(readFileSync(log, "utf8")),
          150_000,
        );
        console.log(
          `[timing] ${arch} ${fw} disk boot: apply -> seed read in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
        );
        const out = readFileSync(log, "utf8");
        expect(out).toContain(`POLYARCH-SEED hostname=host-${fw}\r\n`);
        expect(out).toContain(`POLYARCH-SEED key=${KEY2}\r\n`);
        await mgr.delete(id);
        expect(ourQemuPids()).toEqual([]);
      });
    },
  );
}
