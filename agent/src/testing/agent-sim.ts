// Test helper for vm/manager-restart.int.test.ts: a stand-in "agent" process that starts one VM and then idles,
// so the test can SIGKILL it and prove the QEMU it started survives.
// Usage: node --import tsx agent/src/testing/agent-sim.ts '<json: { stateDir, hostArch, binaries, firmware, id, spec, kernel, initrd }>'
import type { Arch } from "../../../lib/arch";
import type { VmSpecInput } from "../../../lib/schemas/agent-api";
import { VmManager } from "../vm";

interface SimConfig {
  stateDir: string;
  hostArch: Arch;
  binaries: Record<string, string>;
  firmware: Record<string, string>;
  id: string;
  spec: VmSpecInput;
  kernel: string;
  initrd?: string;
}

const cfg = JSON.parse(process.argv[2] ?? "{}") as SimConfig;
const mgr = new VmManager({
  stateDir: cfg.stateDir,
  hostArch: cfg.hostArch,
  kvm: false,
  qemuBinaries: cfg.binaries,
  firmware: cfg.firmware,
  resolveImage: async () => ({ kernel: cfg.kernel, initrd: cfg.initrd }),
});
const { status } = await mgr.apply(cfg.id, cfg.spec);
process.stdout.write(`READY ${status.pid}\n`);
setInterval(() => {}, 60_000);
