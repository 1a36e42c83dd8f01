// Two network namespaces joined by one veth pair, for faults between the controller and an agent
// (issue 15): the controller in one, the agent's host in the other, a /30 between them and no
// other route (never a default route: nothing in them can reach anything else). The test process
// (root namespace) reaches the controller's console port through a bridge: 127.0.0.1:<port> here
// → a unix socket (the filesystem is shared) → unix-forward.mjs inside the namespace → 127.0.0.1:<port>
// there. Link down / up on one end is the partition.
import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";

function ip(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile("ip", args, { timeout: 10_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`ip ${args.join(" ")}: ${String(stderr || err.message).trim()}`)) : resolve(stdout),
    ),
  );
}

export interface NetnsPair {
  /** the controller's namespace and its end of the link */
  ctrl: { ns: string; veth: string; ip: string };
  /** the agents' namespace and its end of the link */
  agents: { ns: string; veth: string; ip: string };
}

/** Namespace and device names for this process (≤ 15 characters; never a VM tap's "pa" + 12 hex). */
export function netnsNames(tag = String(process.pid)): NetnsPair {
  return {
    ctrl: { ns: `pa-part-${tag}-c`, veth: `pap${tag}c`, ip: "10.250.0.1" },
    agents: { ns: `pa-part-${tag}-a`, veth: `pap${tag}a`, ip: "10.250.0.2" },
  };
}

/** Last resort when the test process exits without its afterAll (a crash, a kill): no namespace outlives it. */
const exitHooks = new Map<string, () => void>();
function removeOnExit(pair: NetnsPair): void {
  const hook = () => {
    for (const side of [pair.ctrl, pair.agents])
      try {
        execFileSync("ip", ["netns", "del", side.ns], { stdio: "ignore", timeout: 5_000 });
      } catch {
        /* already gone */
      }
  };
  exitHooks.set(pair.ctrl.ns, hook);
  process.once("exit", hook);
}

/** Creates both namespaces (loopback up) and the veth pair between them, addressed 10.250.0.0/30. */
export async function createNetnsPair(pair: NetnsPair = netnsNames()): Promise<NetnsPair> {
  const { ctrl, agents } = pair;
  removeOnExit(pair);
  for (const side of [ctrl, agents]) {
    await ip(["netns", "add", side.ns]);
    await ip(["-n", side.ns, "link", "set", "lo", "up"]);
  }
  // Created inside the controller's namespace with its peer moved straight into the agents' one: the
  // pair never exists in the root namespace.
  await ip(["-n", ctrl.ns, "link", "add", ctrl.veth, "type", "veth", "peer", "name", agents.veth, "netns", agents.ns]);
  for (const side of [ctrl, agents]) {
    await ip(["-n", side.ns, "addr", "add", `${side.ip}/30`, "dev", side.veth]);
    await ip(["-n", side.ns, "link", "set", side.veth, "up"]);
  }
  return pair;
}

/** The routes of a namespace, for asserting that it has no way out. */
export async function routesOf(ns: string): Promise<string[]> {
  return (await ip(["-n", ns, "route", "show", "table", "all"])).split("\n").filter((l) => l.trim());
}

/** The names of a namespace's network devices (`ip -n NS link`): where its VMs' taps live. */
export async function linksOf(ns: string): Promise<string[]> {
  const out = await ip(["-n", ns, "-o", "link", "show"]);
  return out
    .split("\n")
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => !!n);
}

/** The MAC address of a device in a namespace. */
export async function macOf(ns: string, dev: string): Promise<string> {
  const mac = /link\/ether ([0-9a-f:]{17})/.exec(await ip(["-n", ns, "link", "show", dev]))?.[1];
  if (!mac) throw new Error(`no MAC for ${dev} in ${ns}`);
  return mac;
}

/**
 * A permanent neighbour entry: with it, packets to `addr` over a link whose far end is down vanish
 * silently (like a router that stays up in front of a dead host) instead of failing neighbour
 * discovery with "no route to host" after a few seconds.
 */
export async function pinNeighbour(ns: string, dev: string, addr: string, mac: string): Promise<void> {
  await ip(["-n", ns, "neigh", "replace", addr, "lladdr", mac, "dev", dev, "nud", "permanent"]);
}

export async function setLink(ns: string, veth: string, state: "up" | "down"): Promise<void> {
  await ip(["-n", ns, "link", "set", veth, state]);
}

/** Deletes the namespaces (their veth goes with them); call after every process inside has stopped. */
export async function removeNetnsPair(pair: NetnsPair): Promise<void> {
  const hook = exitHooks.get(pair.ctrl.ns);
  if (hook) process.off("exit", hook);
  exitHooks.delete(pair.ctrl.ns);
  const existing = await ip(["netns", "list"]).catch(() => "");
  for (const side of [pair.ctrl, pair.agents])
    if (existing.split("\n").some((l) => l.split(" ")[0] === side.ns))
      await ip(["netns", "del", side.ns]).catch((e: unknown) => console.error(String(e)));
}

export interface ConsoleBridge {
  /** the same port number on 127.0.0.1 here and inside the namespace */
  port: number;
  close(): Promise<void>;
}

/**
 * 127.0.0.1:<port> here → 127.0.0.1:<port> inside `ns` (nothing needs to listen there yet: each
 * connection is forwarded when it comes). `dir` holds the unix socket.
 */
export async function startConsoleBridge(ns: string, dir: string): Promise<ConsoleBridge> {
  const socketPath = path.join(dir, "console.sock");
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(socketPath);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
    }
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  let forwarder: ChildProcess | null = null;
  const killOnExit = () => forwarder?.kill("SIGKILL");
  process.once("exit", killOnExit);
  const close = async () => {
    process.off("exit", killOnExit);
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
    const child = forwarder;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
    fs.rmSync(socketPath, { force: true });
  };
  try {
    const script = path.join(__dirname, "unix-forward.mjs");
    forwarder = spawn("ip", ["netns", "exec", ns, process.execPath, script, socketPath, "127.0.0.1", String(port)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const child = forwarder;
    await new Promise<void>((resolve, reject) => {
      let err = "";
      child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
      child.stdout!.once("data", () => resolve());
      child.once("exit", (code) => reject(new Error(`unix-forward exited (${code}): ${err}`)));
    });
    return { port, close };
  } catch (e) {
    await close();
    throw e;
  }
}
