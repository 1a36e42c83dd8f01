// Does KVM actually work with the CPU model VmManager uses? A readable /dev/kvm is not enough:
// on some nested hosts `-cpu host` aborts at vCPU reset ("failed to set MSR 0x10a"), which would
// fail every native VM. Creating a paused machine exercises exactly that path in ~100 ms.
import { spawn } from "node:child_process";
import type { Arch } from "../../../lib/arch";

export interface KvmProbeResult {
  ok: boolean;
  /** QEMU's last stderr line or the reason the probe failed */
  reason?: string;
}

export function kvmProbeArgs(arch: Arch): string[] {
  return [
    "-no-user-config",
    "-nodefaults",
    "-machine",
    arch === "x86_64" ? "q35" : "virt,gic-version=max",
    "-accel",
    "kvm",
    "-cpu",
    "host",
    "-m",
    "64M",
    "-display",
    "none",
    "-S", // vCPUs are created and reset, never run
    "-qmp",
    "stdio",
  ];
}

/** Starts `binary` paused under KVM with `-cpu host`, then quits it over QMP on stdio. */
export function probeKvm(binary: string, arch: Arch, timeoutMs = 10_000): Promise<KvmProbeResult> {
  return new Promise((resolve) => {
    let stderr = "";
    let stdout = "";
    let settled = false;
    const done = (r: KvmProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const child = spawn(binary, kvmProbeArgs(arch), { stdio: ["pipe", "pipe", "pipe"] });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      done({ ok: false, reason: `no answer within ${timeoutMs} ms` });
    }, timeoutMs);
    child.on("error", (err) => done({ ok: false, reason: err.message }));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdin.on("error", () => {}); // QEMU may die before reading
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      // greeting -> capabilities -> quit; the machine (and its vCPUs) exists once QMP answers.
      if (stdout.includes('"QMP"') && !stdout.includes('"return"')) {
        child.stdin.write('{"execute":"qmp_capabilities"}\n');
      } else if (stdout.includes('"return"') && child.stdin.writable) {
        child.stdin.end('{"execute":"quit"}\n');
      }
    });
    child.on("exit", (code, signal) => {
      const last = stderr.trim().split("\n").filter(Boolean).slice(-2).join(" | ");
      if (code === 0) done({ ok: true });
      else done({ ok: false, reason: last || `exit ${signal ?? code}` });
    });
  });
}
