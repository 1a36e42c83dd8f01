// Installing, replacing and removing a port's security-group flows on a real bridge (firewall.ts has
// the flows, ADR 052). A change is one OpenFlow bundle (`ovs-ofctl --bundle add-flows`): delete the
// port's old flows and add the new ones atomically, so no packet ever sees a half-programmed port and
// conntrack entries of established connections stay. The port's firewall is also kept in its OVS
// Interface row (external_ids), so a restarted agent re-applies it with port security.
import { portFirewallSchema, type PortFirewall } from "../../../lib/schemas/security-groups";
import { ExecError } from "../util";
import { baseFlows, firewallCookie, firewallFlows } from "./firewall";

/** What these functions need of `Ovs` (ovs.ts; declared here so ovs.ts can import this file without a cycle). */
export interface Ovs {
  vsctl(args: string[]): Promise<{ stdout: string; stderr: string }>;
  ofctl(cmd: string, bridge: string, rest?: string[]): Promise<{ stdout: string; stderr: string }>;
  ofctlFile(cmd: string, bridge: string, lines: string[], opts?: { bundle?: boolean }): Promise<void>;
  ofport(port: string): Promise<number>;
  bridgeExists(name: string): Promise<boolean>;
}

export const FIREWALL_EXTERNAL_ID = "polyarch-firewall";

/** Adds the pipeline's table-miss flows (idempotent). */
export async function ensureBaseFlows(ovs: Ovs, bridge: string): Promise<void> {
  await ovs.ofctlFile("add-flows", bridge, baseFlows(), { bundle: true });
}

/** The MAC QEMU gives the NIC, as the agent recorded it when plugging the port. */
async function attachedMac(ovs: Ovs, port: string): Promise<string> {
  const { stdout } = await ovs.vsctl(["--if-exists", "get", "interface", port, "external_ids:attached-mac"]);
  const mac = stdout.trim().replace(/^"|"$/g, "");
  if (!mac) throw new Error(`port ${port} has no attached-mac: it was not plugged as a VM NIC`);
  return mac;
}

/**
 * Replaces the firewall of `port` (null = remove it: the port is unfiltered again). `mac` defaults to
 * the port's recorded attached-mac. Records the firewall in the Interface row for re-application.
 */
export async function applyPortFirewall(
  ovs: Ovs,
  bridge: string,
  port: string,
  fw: PortFirewall | null,
  mac?: string,
): Promise<{ flows: number }> {
  const cookie = firewallCookie(port);
  const lines = [`delete cookie=${cookie}/-1`];
  let count = 0;
  if (fw) {
    const flows = firewallFlows(
      { port, ofport: await ovs.ofport(port), mac: mac ?? (await attachedMac(ovs, port)) },
      fw,
    );
    lines.push(...flows.map((f) => `add ${f}`));
    count = flows.length;
  }
  await ensureBaseFlows(ovs, bridge);
  await ovs.ofctlFile("add-flows", bridge, lines, { bundle: true });
  await ovs.vsctl(
    fw
      ? ["set", "interface", port, `external_ids:${FIREWALL_EXTERNAL_ID}=${JSON.stringify(JSON.stringify(fw))}`]
      : ["remove", "interface", port, "external_ids", FIREWALL_EXTERNAL_ID],
  );
  return { flows: count };
}

/** The firewall recorded on the port (null if none or unreadable: then the port stays unfiltered). */
export async function recordedFirewall(ovs: Ovs, port: string): Promise<PortFirewall | null> {
  const { stdout } = await ovs.vsctl(["--if-exists", "get", "interface", port, `external_ids:${FIREWALL_EXTERNAL_ID}`]);
  const raw = stdout.trim();
  if (!raw) return null;
  try {
    const parsed = portFirewallSchema.safeParse(JSON.parse(JSON.parse(raw) as string));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** Removes the port's firewall flows (port unplugged). Idempotent; no bridge = nothing to remove. */
export async function removePortFirewall(ovs: Ovs, bridge: string, port: string): Promise<void> {
  try {
    await ovs.ofctl("del-flows", bridge, [`cookie=${firewallCookie(port)}/-1`]);
  } catch (e) {
    if (!(e instanceof ExecError) || (await ovs.bridgeExists(bridge))) throw e;
  }
}
