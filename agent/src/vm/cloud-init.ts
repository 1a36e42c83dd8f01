// cloud-init NoCloud seed: meta-data + user-data (+ network-config v2) on an ISO9660 volume
// labelled `cidata`, built with genisoimage (Debian package) and attached read-only as a CD-ROM.
// Every string that reaches YAML is emitted as a JSON double-quoted scalar (valid YAML), so no
// hostname, key or address can inject YAML structure.
import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import { isIPv4 } from "node:net";
import path from "node:path";
import type { VmSpec } from "../../../lib/schemas/agent-api";
import { run } from "../util";
import { AgentError } from "./errors";
import { writeFileAtomic } from "./proc";

export type CloudInitSpec = NonNullable<VmSpec["cloudInit"]>;
type Nic = VmSpec["nics"][number];

export interface SeedFiles {
  "meta-data": string;
  "user-data": string;
  "network-config"?: string;
}

export const SEED_ISO = "seed.iso";
/** Holds the hash of the files the current seed.iso was built from: unchanged spec = no rebuild. */
const SEED_STAMP = "seed.sha256";
const SEED_SRC_DIR = "seed";

const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
/** One OpenSSH public key line: type, base64 blob, optional comment. */
const SSH_KEY =
  /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/]+={0,2}( [^\0\r\n]*)?$/;

const q = (s: string): string => JSON.stringify(s);

/** Throws AgentError("invalid") for data that cannot go into a seed; call before side effects. */
export function validateCloudInit(ci: CloudInitSpec): void {
  if (!HOSTNAME.test(ci.hostname))
    throw new AgentError("invalid", `cloudInit.hostname ${q(ci.hostname)} is not a valid hostname`);
  ci.sshKeys.forEach((k, i) => {
    if (!SSH_KEY.test(k.trim()))
      throw new AgentError("invalid", `cloudInit.sshKeys[${i}] is not an OpenSSH public key line`);
  });
  if (ci.userData !== undefined) {
    // cloud-init silently ignores other formats; refuse them so the user learns why nothing ran.
    const head = ci.userData.trimStart();
    if (!head.startsWith("#cloud-config") && !head.startsWith("#!")) {
      throw new AgentError("invalid", "cloudInit.userData must start with '#cloud-config' or '#!' (a script)");
    }
    if (ci.userData.includes("\0")) throw new AgentError("invalid", "cloudInit.userData contains a NUL byte");
  }
}

/** network-config v2 for NICs with a static address (matched by MAC); null when none has one. */
export function networkConfig(nics: readonly Nic[]): string | null {
  const statics = nics.filter((n) => n.ip !== undefined && n.prefixLength !== undefined);
  if (statics.length === 0) return null; // cloud-init's fallback (DHCP on the first NIC) applies
  const lines = ["version: 2", "ethernets:"];
  nics.forEach((n, i) => {
    lines.push(`  ${q(`nic${i}`)}:`, "    match:", `      macaddress: ${q(n.mac)}`);
    if (n.ip === undefined || n.prefixLength === undefined) {
      lines.push("    dhcp4: true");
      return;
    }
    if (!isIPv4(n.ip)) throw new AgentError("invalid", `NIC ${n.id}: ip ${q(n.ip)} is not an IPv4 address`);
    lines.push("    dhcp4: false", `    addresses: [${q(`${n.ip}/${n.prefixLength}`)}]`);
    if (n.gateway) {
      if (!isIPv4(n.gateway))
        throw new AgentError("invalid", `NIC ${n.id}: gateway ${q(n.gateway)} is not an IPv4 address`);
      // 0.0.0.0/0 rather than "default": older cloud-init v2 parsers only know the CIDR form.
      lines.push("    routes:", `      - to: ${q("0.0.0.0/0")}`, `        via: ${q(n.gateway)}`);
    }
  });
  return lines.join("\n") + "\n";
}

/** The seed's file contents (pure). instance-id = VM id, so cloud-init runs once per VM. */
export function renderSeed(vmId: string, spec: Pick<VmSpec, "nics"> & { cloudInit: CloudInitSpec }): SeedFiles {
  const ci = spec.cloudInit;
  validateCloudInit(ci);
  const keys = ci.sshKeys.map((k) => k.trim());
  const keyList = (indent: string) => keys.map((k) => `${indent}- ${q(k)}`);
  // Keys also go into meta-data (NoCloud `public-keys`), so they still reach the guest when the
  // user brings their own user-data.
  const meta = [`instance-id: ${q(vmId)}`, `local-hostname: ${q(ci.hostname)}`];
  if (keys.length) meta.push("public-keys:", ...keyList("  "));
  const user =
    ci.userData ??
    [
      "#cloud-config",
      `hostname: ${q(ci.hostname)}`,
      ...(keys.length ? ["ssh_authorized_keys:", ...keyList("  ")] : []),
    ].join("\n") + "\n";
  const files: SeedFiles = { "meta-data": meta.join("\n") + "\n", "user-data": user };
  const net = networkConfig(spec.nics);
  if (net) files["network-config"] = net;
  return files;
}

function hashFiles(files: SeedFiles): string {
  const h = createHash("sha256");
  for (const [name, body] of Object.entries(files).sort(([a], [b]) => a.localeCompare(b)))
    h.update(`${name}\0${body}\0`);
  return h.digest("hex");
}

/**
 * Makes <vmDir>/seed.iso match the spec: builds it when cloudInit is set and differs from the
 * last build, removes it when cloudInit is gone. Returns the ISO path or null. Call only while
 * QEMU is not running (the CD is opened at start).
 */
export async function ensureSeedIso(
  vmDir: string,
  vmId: string,
  spec: Pick<VmSpec, "nics" | "cloudInit">,
  opts: { genisoimage?: string } = {},
): Promise<string | null> {
  const iso = path.join(vmDir, SEED_ISO);
  const stamp = path.join(vmDir, SEED_STAMP);
  const srcDir = path.join(vmDir, SEED_SRC_DIR);
  if (!spec.cloudInit) {
    await Promise.all([iso, stamp, srcDir].map((p) => fsp.rm(p, { force: true, recursive: true })));
    return null;
  }
  const files = renderSeed(vmId, { nics: spec.nics, cloudInit: spec.cloudInit });
  const hash = hashFiles(files);
  const have = await fsp.readFile(stamp, "utf8").catch(() => "");
  if (
    have.trim() === hash &&
    (await fsp
      .stat(iso)
      .then((s) => s.isFile())
      .catch(() => false))
  )
    return iso;

  // Fresh source dir each time so a dropped network-config does not linger on the volume.
  await fsp.rm(srcDir, { force: true, recursive: true });
  await fsp.mkdir(srcDir, { mode: 0o700 });
  const names = Object.keys(files) as Array<keyof SeedFiles>;
  for (const name of names) await fsp.writeFile(path.join(srcDir, name), files[name]!, { mode: 0o600 });
  const tmp = `${iso}.tmp`;
  try {
    await run(
      opts.genisoimage ?? "genisoimage",
      ["-quiet", "-output", tmp, "-volid", "cidata", "-joliet", "-rock", ...names.map((n) => path.join(srcDir, n))],
      { timeoutMs: 30_000 },
    );
    await fsp.rename(tmp, iso);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    const msg = err instanceof Error ? err.message : String(err);
    throw new AgentError("unavailable", `could not build the cloud-init seed (is genisoimage installed?): ${msg}`, {
      cause: err,
    });
  }
  await writeFileAtomic(stamp, hash + "\n");
  return iso;
}
