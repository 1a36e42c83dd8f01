// What the fence watchdog kills: the QEMU of every VM in <stateDir>/vms whose spec.json says
// fence: true (an HA VM). Read straight from the files the VM manager keeps, so a hung agent's
// in-memory state is never needed. A pid is signalled only when /proc says it is that VM's QEMU
// (argv[0] a qemu-system binary started with that pidfile): pid files outlive their processes.
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { safeIdSchema } from "../../../lib/schemas/agent-api";
import { pidAlive, processArgv } from "../util";

/** Only the field the watchdog needs: an unreadable or foreign spec is not fenced. */
const fenceFlagSchema = z.object({ fence: z.boolean().optional() });

export interface FenceTarget {
  id: string;
  pid: number;
}

/** The same check as scripts/fleet/fleet.mjs isVmOf: QEMU's binary, started with exactly this pidfile. */
export function isQemuOf(argv: string[] | null, pidFile: string): boolean {
  if (!argv) return false;
  return path.basename(argv[0] ?? "").startsWith("qemu-system") && argv.includes(pidFile);
}

function readPid(file: string): number | null {
  try {
    const n = Number.parseInt(readFileSync(file, "utf8").trim(), 10);
    return Number.isInteger(n) && n > 1 ? n : null;
  } catch {
    return null;
  }
}

function wantsFence(specFile: string): boolean {
  try {
    const parsed = fenceFlagSchema.safeParse(JSON.parse(readFileSync(specFile, "utf8")));
    return parsed.success && parsed.data.fence === true;
  } catch {
    return false;
  }
}

/** Running QEMUs of this state dir's fenced VMs. */
export function fenceTargets(stateDir: string): FenceTarget[] {
  const vmsDir = path.join(stateDir, "vms");
  let ids: string[];
  try {
    ids = readdirSync(vmsDir).filter((id) => safeIdSchema.safeParse(id).success);
  } catch {
    return [];
  }
  const out: FenceTarget[] = [];
  for (const id of ids) {
    const dir = path.join(vmsDir, id);
    if (!wantsFence(path.join(dir, "spec.json"))) continue;
    const pidFile = path.join(dir, "qemu.pid");
    const pid = readPid(pidFile);
    if (pid && pidAlive(pid) && isQemuOf(processArgv(pid), pidFile)) out.push({ id, pid });
  }
  return out;
}

/** SIGKILL: a fenced VM must stop now, before the controller starts its replacement elsewhere. */
export function killTargets(targets: FenceTarget[]): FenceTarget[] {
  const killed: FenceTarget[] = [];
  for (const t of targets) {
    try {
      process.kill(t.pid, "SIGKILL");
      killed.push(t);
    } catch {
      /* gone meanwhile */
    }
  }
  return killed;
}
