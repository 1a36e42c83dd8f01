// An "outside" network namespace on the fleet's external bridge (ADR 058): the fleet's own internet,
// for tests of routers, SNAT and floating IPs on real guests. One veth pair: the inner end in a new
// namespace with one documentation address (TEST-NET, RFC 5737) and NO route besides its own subnet
// (no default route: nothing in it can reach anything but that segment); the outer end a port of
// fleet.externalBridge on the fleet's private OVS. Everything is sent from inside the namespace
// (`ip netns exec`), and only to addresses of that subnet.
//
//   import { createOutside } from "./scripts/fleet/outside.mjs";
//   const outside = await createOutside(fleet, { address: "203.0.113.1/24" });
//   const { received } = await outside.ping("203.0.113.10", { count: 2 });
//   await outside.remove();  // namespace, veth and OVS port; idempotent (also run on process exit)
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { run } from "./processes.mjs";

/** RFC 5737 documentation networks: never routed anywhere real. */
const TEST_NETS = ["192.0.2.", "198.51.100.", "203.0.113."];
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function parseAddress(cidr) {
  const [ip, len] = String(cidr).split("/");
  if (!IPV4.test(ip ?? "") || len !== "24" || !TEST_NETS.some((p) => ip.startsWith(p)))
    throw new Error(`outside: address must be a /24 address of a TEST-NET (192.0.2/198.51.100/203.0.113), not ${cidr}`);
  return { ip, net: ip.split(".").slice(0, 3).join(".") + "." };
}

/** iputils ping when installed, else busybox's (the fixtures' build needs busybox anyway). */
function pingArgv() {
  const found = (name) =>
    (process.env.PATH ?? "/usr/bin:/bin").split(":").some((d) => d && fs.existsSync(path.join(d, name)));
  if (found("ping")) return ["ping"];
  if (found("busybox")) return ["busybox", "ping"];
  throw new Error("outside: neither ping nor busybox is installed");
}

/**
 * @param {{ externalBridge: string | null, netns: string | null, vsctl(args: string[]): Promise<string> }} fleet
 * @param {{ address?: string, prefix?: string }} [o]  address (default 203.0.113.1/24); namespace prefix (default pa-e2e-out)
 */
export async function createOutside(fleet, o = {}) {
  if (!fleet.externalBridge) throw new Error("outside: this fleet has no external bridge (startFleet externalBridge)");
  const address = o.address ?? "203.0.113.1/24";
  const { ip, net } = parseAddress(address);
  const rand = crypto.randomBytes(3).toString("hex");
  const netns = `${o.prefix ?? "pa-e2e-out"}-${rand}`;
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(netns)) throw new Error(`outside: bad namespace name ${netns}`);
  const outer = `pao${rand}`; // in the fleet's namespace, a port of the external bridge
  const inner = `pai${rand}`; // in the outside namespace
  const hostIp = fleet.netns ? ["-n", fleet.netns] : [];
  const T = { timeoutMs: 15_000 };

  let removed = false;
  const removeSync = () => {
    if (removed) return;
    for (const argv of [
      [...hostIp, "link", "del", "dev", outer],
      ["netns", "del", netns],
    ])
      try {
        execFileSync("ip", argv, { timeout: 5_000, stdio: "ignore" });
      } catch {
        /* already gone */
      }
  };
  process.on("exit", removeSync);

  async function remove() {
    if (removed) return;
    const errors = [];
    await fleet.vsctl(["--if-exists", "del-port", fleet.externalBridge, outer]).catch(() => {});
    // Deleting one end of a veth deletes both.
    const outerExists = fleet.netns
      ? await run("ip", [...hostIp, "link", "show", "dev", outer], T).then(
          () => true,
          () => false,
        )
      : fs.existsSync(`/sys/class/net/${outer}`);
    if (outerExists) await run("ip", [...hostIp, "link", "del", "dev", outer], T).catch((e) => errors.push(e.message));
    if (fs.existsSync(`/run/netns/${netns}`))
      await run("ip", ["netns", "del", netns], T).catch((e) => errors.push(e.message));
    removed = true;
    process.off("exit", removeSync);
    if (errors.length) throw new Error(`outside: cleanup of ${netns}: ${errors.join("; ")}`);
  }

  try {
    await run("ip", ["netns", "add", netns], T);
    await run("ip", [...hostIp, "link", "add", outer, "type", "veth", "peer", "name", inner, "netns", netns], T);
    await run("ip", [...hostIp, "link", "set", "dev", outer, "up"], T);
    await fleet.vsctl([
      ...["--may-exist", "add-port", fleet.externalBridge, outer],
      ...["--", "set", "port", outer, `external_ids:polyarch-outside=${netns}`],
    ]);
    await run("ip", ["-n", netns, "link", "set", "dev", "lo", "up"], T);
    await run("ip", ["-n", netns, "addr", "add", address, "dev", inner], T);
    await run("ip", ["-n", netns, "link", "set", "dev", inner, "up"], T);
  } catch (e) {
    await remove().catch(() => {});
    throw e;
  }

  /** argv run inside the namespace (`ip netns exec`); resolves with stdout, stderr and the exit code. */
  async function exec(argv, { timeoutMs = 60_000 } = {}) {
    try {
      const r = await run("ip", ["netns", "exec", netns, ...argv], { timeoutMs });
      return { ...r, code: 0 };
    } catch (e) {
      return { stdout: "", stderr: e.message, code: typeof e.code === "number" ? e.code : 1 };
    }
  }

  /** Pings `target` (an address of the outside subnet only) from inside the namespace. */
  async function ping(target, { count = 2, waitS = 2 } = {}) {
    if (!IPV4.test(target) || !target.startsWith(net) || target === ip)
      throw new Error(`outside: ping only addresses of ${net}0/24 other than its own (not ${target})`);
    const r = await exec([...pingArgv(), "-c", String(count), "-W", String(waitS), target], {
      timeoutMs: (count * (waitS + 1) + 10) * 1000,
    });
    const out = `${r.stdout}${r.stderr}`;
    const received = Number(/(\d+) (?:packets )?received/.exec(out)?.[1] ?? "0");
    return { received, out, code: r.code };
  }

  return { netns, address, ip, outerLink: outer, innerLink: inner, exec, ping, remove };
}
