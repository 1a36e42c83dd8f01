// Pinned machine type and CPU model (issue 14) end to end with real QEMU 7.2 under TCG: the
// host's machine list as facts report it, the spec check (409 for a type this QEMU lacks), and a
// QEMU that runs the pinned board and CPU (it answers QMP only after accepting both).
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ARCHES } from "../../../lib/arch";
import { parseMachineHelp } from "../host";
import { run } from "../util";
import { binaries, findFixture, hasQemuImg, kernelSpec, vmRig } from "../testing/vm-rig";
import { AgentError } from "./errors";

const rig = vmRig();

for (const arch of ARCHES) {
  const missing = !binaries[arch] || !hasQemuImg || !findFixture(arch);
  describe.skipIf(missing)(`pinned machine type, ${arch} guest`, () => {
    it("runs the pinned type and CPU model; refuses (409) a type this QEMU does not have", async () => {
      const { stdout } = await run(binaries[arch]!, ["-machine", "help"], { timeoutMs: 15_000 });
      const machines = { [arch]: parseMachineHelp(stdout, arch)! };
      const pinned = machines[arch]!.default; // pc-q35-7.2 / virt-7.2 on this machine
      const cpu = arch === "x86_64" ? "qemu64" : "cortex-a53";
      const mgr = rig.makeManager({ machines });
      await mgr.init();
      const id = `mt-${arch.replace("_", "-")}`;
      const res = await mgr.apply(id, kernelSpec(arch, { name: id, machineType: pinned, cpuModel: cpu }));
      expect(res.status.powerState).toBe("running");
      expect(res.status.machineType).toBe(pinned);
      const argv = JSON.parse(readFileSync(path.join(rig.stateDir, "vms", id, "qemu.argv.json"), "utf8")) as string[];
      expect(argv[argv.indexOf("-machine") + 1]).toBe(pinned);
      expect(argv[argv.indexOf("-cpu") + 1]).toBe(cpu);

      const missingType = arch === "x86_64" ? "pc-q35-99.0" : "virt-99.0";
      const err = await mgr
        .apply(`${id}-x`, kernelSpec(arch, { name: `${id}-x`, machineType: missingType }))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AgentError);
      expect((err as AgentError).httpStatus).toBe(409);
      expect((err as AgentError).message).toMatch(new RegExp(`no machine type ${missingType} for ${arch}`));
      await mgr.delete(id);
    }, 60_000);
  });
}
