// Test-only helpers for the migration integration tests: two VmManagers on two state dirs in one
// process (the "source host" and the "target host"), a guest that counts on its serial console,
// and host-side reads of what a disk file holds. Imported only by *.int.test.ts in this folder.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ARCHES, type Arch } from "../../../lib/arch";
import type { HostFacts } from "../../../lib/schemas/agent-api";
import { closeServer, createAgentServer, listen, TokenVerifier } from "../api";
import { guestRun, typeOnSerial } from "../testing/guest-shell";
import { findFixture, kernelSpec, pidsUsing, type VmRig, waitFor } from "../testing/vm-rig";
import type { VmManager } from "../vm";

export const GiB = 1024 ** 3;

export interface Pair {
  src: VmManager;
  dst: VmManager;
  srcDir: string;
  dstDir: string;
}

/** Source on the rig's state dir, target on a fresh one (killed and removed by the rig). */
export function makePair(rig: VmRig): Pair {
  const dstDir = mkdtempSync(path.join(os.tmpdir(), "pa-mig-"));
  rig.extraDirs.push(dstDir);
  return {
    src: rig.makeManager(),
    dst: rig.makeManager({ stateDir: dstDir }),
    srcDir: rig.stateDir,
    dstDir,
  };
}

export function serialLogIn(stateDir: string, id: string): string {
  try {
    return readFileSync(path.join(stateDir, "vms", id, "serial.log"), "utf8");
  } catch {
    return "";
  }
}

export function guestPaths(stateDir: string, id: string): { serialSocket: string; serialLog: string } {
  const dir = path.join(stateDir, "vms", id);
  return { serialSocket: path.join(dir, "serial.sock"), serialLog: path.join(dir, "serial.log") };
}

/** Highest "PA-COUNT n" the guest has printed into this log (0 = none). */
export function lastCount(log: string): number {
  let n = 0;
  for (const m of log.matchAll(/PA-COUNT (\d+)/g)) n = Math.max(n, Number(m[1]));
  return n;
}

/** Boots the kernel fixture with one volume on the source; returns the spec it runs. */
export async function bootWithVolume(pair: Pair, arch: Arch, id: string, volId: string) {
  const fx = findFixture(arch)!;
  await pair.src.putVolume(volId, { sizeGb: 1 });
  const spec = kernelSpec(arch, { name: id, volumes: [{ id: volId }] });
  await pair.src.apply(id, spec);
  await waitFor(`${arch} boot marker`, () => serialLogIn(pair.srcDir, id).includes(fx.marker), 180_000, 200);
  return spec;
}

/** Writes a line to the start of the root disk and of the volume (by its serial), then syncs. */
export async function writeDiskMarks(stateDir: string, id: string, serial: string, root: string, vol: string) {
  const sh = (cmd: string) => guestRun(guestPaths(stateDir, id), cmd, 120_000);
  const devs = await sh(`for d in /sys/block/vd*; do echo "\${d##*/} $(cat $d/serial 2>/dev/null)"; done`);
  const volDev = devs.find((l) => l.split(" ")[1] === serial)?.split(" ")[0];
  const rootDev = devs.find((l) => !l.split(" ")[1])?.split(" ")[0];
  if (!volDev || !rootDev) throw new Error(`guest disks not found: ${devs.join(" | ")}`);
  await sh(
    `echo ${root} | dd of=/dev/${rootDev} conv=fsync 2>/dev/null; echo ${vol} | dd of=/dev/${volDev} conv=fsync 2>/dev/null; sync`,
  );
}

/** Starts a background counter on the guest console: one "PA-COUNT n" line a second. */
export async function startCounter(stateDir: string, id: string): Promise<void> {
  await typeOnSerial(
    guestPaths(stateDir, id).serialSocket,
    "i=0; while :; do i=$((i+1)); echo PA-COUNT $i; sleep 1; done &",
  );
  await waitFor("guest counter", () => lastCount(serialLogIn(stateDir, id)) >= 2, 60_000, 200);
}

/** The first bytes of a qcow2's guest-visible content (read with -U: QEMU may hold the file). */
export function diskHead(file: string, bytes = 64): string {
  const tmp = mkdtempSync(path.join(os.tmpdir(), "pa-head-"));
  try {
    const raw = path.join(tmp, "head.raw");
    execFileSync("qemu-img", ["convert", "-U", "-f", "qcow2", "-O", "raw", file, raw]);
    return readFileSync(raw).subarray(0, bytes).toString("latin1");
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

export function vmDirExists(stateDir: string, id: string): boolean {
  return existsSync(path.join(stateDir, "vms", id));
}

export function volumeFile(stateDir: string, volId: string): string {
  return path.join(stateDir, "volumes", `${volId}.qcow2`);
}

export const qemusIn = (dir: string): number[] => pidsUsing([dir]);

/** The agent API around a rig manager on 127.0.0.1 (plain HTTP, one token), as the controller sees it. */
export async function serveOverHttp(mgr: VmManager): Promise<AgentHttp> {
  const auth = new TokenVerifier();
  auth.set(TEST_TOKEN);
  const facts: HostFacts = {
    hostname: "mig-test",
    machineId: "m-mig-test",
    arch: "x86_64",
    cpuCount: 2,
    cpuModel: "test cpu",
    memoryMb: 8192,
    diskGb: 100,
    kvm: false,
    qemu: { version: "7.2.22", binaries: {}, firmware: {} },
    ovs: { available: false, version: null, datapath: null },
    nativeArches: [...ARCHES],
    emulatedArches: [],
    maxVcpusNative: null,
    maxVcpusEmulated: null,
    agentVersion: "0.1.0",
  };
  const server = createAgentServer({
    facts: () => facts,
    usage: async () => ({ cpuPct: 0, memoryUsedMb: 1, diskUsedGb: 0, loadAvg: [0, 0, 0] }),
    vms: mgr,
    auth,
  });
  const { port } = await listen(server, "127.0.0.1", 0);
  return {
    async post(p, body, accept = "application/json") {
      const res = await fetch(`http://127.0.0.1:${port}/v1${p}`, {
        method: "POST",
        headers: { authorization: `Bearer ${TEST_TOKEN}`, "content-type": "application/json", accept },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, type: res.headers.get("content-type") ?? "", text: await res.text() };
    },
    close: () => closeServer(server, 1_000),
  };
}

export const TEST_TOKEN = "migration-test-token-0123456789";

export interface AgentHttp {
  post(p: string, body?: unknown, accept?: string): Promise<{ status: number; type: string; text: string }>;
  close(): Promise<void>;
}
