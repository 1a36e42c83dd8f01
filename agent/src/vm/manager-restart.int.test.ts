// VmManager across agent restarts with real QEMU under TCG (fixtures and bookkeeping:
// testing/vm-rig.ts): the agent dies with SIGKILL and its VM does not; sockets in a short dir when
// the state dir is too long for sun_path, found again through state.json.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ARCHES, type Arch } from "../../../lib/arch";
import {
  agentSimScript,
  alive,
  binaries,
  findFixture,
  firmware,
  hasQemuImg,
  hostArch,
  kernelSpec,
  pidsUsing,
  repoRoot,
  vmRig,
  waitFor,
} from "../testing/vm-rig";

const rig = vmRig();
const { extraDirs, makeManager, serialLog } = rig;

// ---- the agent dies with SIGKILL; the VM does not --------------------------------------------

const simArch: Arch =
  binaries[hostArch] && findFixture(hostArch)
    ? hostArch
    : (ARCHES.find((a) => binaries[a] && findFixture(a)) ?? hostArch);
const simFx = findFixture(simArch);
const simSkip = !binaries[simArch] || !simFx || !hasQemuImg;

describe.skipIf(simSkip)(
  `agent killed with SIGKILL (${simArch})${simSkip ? " (skipped: no qemu/fixture)" : ""}`,
  () => {
    it("QEMU keeps running and the next agent re-attaches", async () => {
      const id = "survivor";
      const sim = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          agentSimScript,
          JSON.stringify({
            stateDir: rig.stateDir,
            hostArch,
            binaries,
            firmware,
            id,
            spec: kernelSpec(simArch),
            kernel: simFx!.kernel,
            initrd: simFx!.initrd,
          }),
        ],
        { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] },
      );
      let out = "";
      let errOut = "";
      sim.stdout.on("data", (d: Buffer) => (out += d.toString()));
      sim.stderr.on("data", (d: Buffer) => (errOut += d.toString()));
      try {
        const pid = await waitFor(
          "agent-sim READY",
          () => {
            if (sim.exitCode !== null) throw new Error(`agent-sim exited: ${errOut}`);
            const m = /READY (\d+)/.exec(out);
            return m ? Number(m[1]) : 0;
          },
          60_000,
        );
        sim.kill("SIGKILL");
        await new Promise((r) => sim.once("exit", r));
        await waitFor("marker", () => serialLog(id).includes(simFx!.marker), 90_000, 200);
        expect(alive(pid)).toBe(true);

        const mgr = makeManager();
        await mgr.init();
        expect(await mgr.get(id)).toMatchObject({ powerState: "running", qmpStatus: "running", pid });
        expect(pidsUsing([rig.stateDir])).toEqual([pid]);
        await mgr.delete(id);
        expect(alive(pid)).toBe(false);
      } finally {
        if (sim.exitCode === null) sim.kill("SIGKILL");
      }
    });
  },
);

// ---- sockets (no need to wait for a guest OS) -----------------------------------------------------

const quickArch: Arch | undefined = ARCHES.find((a) => binaries[a] && findFixture(a));

describe.skipIf(!quickArch || !hasQemuImg)(
  `VmManager plumbing${!quickArch ? " (skipped: no qemu/fixture)" : ""}`,
  () => {
    it("puts sockets in a short dir when the state dir is too long for sun_path", async () => {
      const longState = path.join(mkdtempSync(path.join(os.tmpdir(), "pa-long-")), "x".repeat(60), "y".repeat(40));
      extraDirs.push(path.dirname(path.dirname(longState)));
      const sockBase = mkdtempSync(path.join(os.tmpdir(), "pa-s-"));
      extraDirs.push(sockBase);
      const mgr = makeManager({ stateDir: longState, socketBaseDir: sockBase });
      const id = "long-socks";
      const res = await mgr.apply(id, kernelSpec(quickArch!));
      expect(res.status.powerState).toBe("running");
      const paths = await mgr.consolePaths(id);
      expect(paths.qmpSocket.startsWith(sockBase)).toBe(true);
      expect(Buffer.byteLength(paths.serialSocket)).toBeLessThan(108);
      expect(existsSync(paths.qmpSocket)).toBe(true);
      const state = JSON.parse(readFileSync(path.join(longState, "vms", id, "state.json"), "utf8")) as {
        sockDir: string;
      };
      expect(state.sockDir).toBe(path.dirname(paths.qmpSocket)); // recorded for the next agent
      // A restarted agent finds the sockets through state.json.
      await mgr.close();
      const again = makeManager({ stateDir: longState, socketBaseDir: sockBase });
      expect(await again.get(id)).toMatchObject({ powerState: "running", qmpStatus: "running", pid: res.status.pid });
      await again.delete(id);
      expect(existsSync(path.dirname(paths.qmpSocket))).toBe(false);
    });
  },
);
