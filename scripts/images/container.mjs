// A built image run without an OCI runtime (podman/crun fail on this host): `buildah from` makes a
// working container, `buildah run --isolation chroot` starts the image's own ENTRYPOINT as its USER,
// with the host's network (loopback only is used). Every container and process started here is
// removed by stop(), also after a failure.
import { execFileSync, spawn } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

const BUILDAH = "buildah";
const run = (args) => execFileSync(BUILDAH, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();

/** Config of an image or container: entrypoint, user, env, working dir, arch. */
function configOf(ref, type) {
  const j = JSON.parse(run(["inspect", "--type", type, ref]));
  const c = j.Docker?.config ?? j.OCIv1?.config ?? {};
  return {
    entrypoint: c.Entrypoint ?? [],
    cmd: c.Cmd ?? [],
    user: c.User ?? "",
    workdir: c.WorkingDir || "/",
    arch: j.Docker?.architecture ?? j.OCIv1?.architecture,
  };
}

// `buildah run --isolation chroot` runs the command in mount namespaces of its own, and a process there
// may leave its process group (the agent's fence watchdog is a session of its own): a signal to the
// group misses it, and it outlived a smoke run. stop() therefore also ends every process in the mount
// namespaces it found under the run, by namespace.
const mountNs = (pid) => {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return null; // gone, or not ours to read
  }
};
const pids = () =>
  readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
function parentOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]); // after "(comm) state"
  } catch {
    return null;
  }
}
/** Mount namespaces (other than ours) of `pid`'s descendants. */
function namespacesUnder(pid) {
  const children = new Map();
  for (const p of pids()) {
    const parent = parentOf(p);
    if (parent !== null) children.set(parent, [...(children.get(parent) ?? []), p]);
  }
  const ours = mountNs(process.pid);
  const found = new Set();
  for (const queue = [pid]; queue.length;) {
    for (const c of children.get(queue.pop()) ?? []) {
      queue.push(c);
      const ns = mountNs(c);
      if (ns && ns !== ours) found.add(ns);
    }
  }
  return found;
}
/** SIGTERM to every process in `namespaces`, SIGKILL to those left after `graceMs`. */
async function endNamespaces(namespaces, graceMs) {
  const inThem = () => pids().filter((p) => namespaces.has(mountNs(p)));
  for (const [signal, wait] of [
    ["SIGTERM", graceMs],
    ["SIGKILL", 2_000],
  ]) {
    let left = inThem();
    for (const p of left) {
      try {
        process.kill(p, signal);
      } catch {}
    }
    for (const until = Date.now() + wait; left.length && Date.now() < until; left = inThem()) await sleep(100);
    if (!left.length) return;
  }
}

export class Container {
  /** @param {string} image local image reference */
  constructor(image, name) {
    this.image = image;
    this.id = run(["from", "--pull=never", "--name", name, image]);
    this.config = configOf(this.id, "container");
    this.root = run(["mount", this.id]);
    this.procs = [];
  }

  /** Runs a command to completion inside the container (as USER unless `user` is given); returns stdout. */
  exec(argv, { user, env = {} } = {}) {
    return run(["run", ...this.#opts(user, env), this.id, "--", ...argv]);
  }

  /** Starts the image's ENTRYPOINT (+ extra args) in the background; output goes to onOutput. */
  start(args, { env = {}, onOutput = () => {} } = {}) {
    const argv = [...this.config.entrypoint, ...args];
    const p = spawn(BUILDAH, ["run", ...this.#opts(undefined, env), this.id, "--", ...argv], {
      detached: true, // own process group: stop() signals the whole tree (buildah, tini, node, children)
      stdio: ["ignore", "pipe", "pipe"],
    });
    p.stdout.on("data", (d) => onOutput(String(d)));
    p.stderr.on("data", (d) => onOutput(String(d)));
    p.exited = new Promise((resolve) => p.once("exit", (code, signal) => resolve(code ?? signal)));
    this.procs.push(p);
    return p;
  }

  #opts(user, env) {
    const o = ["--isolation", "chroot", "--workingdir", this.config.workdir];
    const u = user ?? this.config.user;
    if (u) o.push("--user", u);
    for (const [k, v] of Object.entries(env)) o.push("--env", `${k}=${v}`);
    return o;
  }

  /**
   * SIGTERM to each process group, SIGKILL after `graceMs`; then whatever still runs in the runs' mount
   * namespaces; then the working container is removed.
   */
  async stop(graceMs = 15_000) {
    const codes = [];
    const namespaces = new Set();
    for (const p of this.procs) {
      if (p.exitCode !== null || p.signalCode !== null) {
        codes.push(p.exitCode ?? p.signalCode);
        continue;
      }
      for (const ns of namespacesUnder(p.pid)) namespaces.add(ns);
      try {
        process.kill(-p.pid, "SIGTERM");
      } catch {}
      const timer = setTimeout(() => {
        try {
          process.kill(-p.pid, "SIGKILL");
        } catch {}
      }, graceMs);
      codes.push(await p.exited);
      clearTimeout(timer);
    }
    await endNamespaces(namespaces, 5_000);
    try {
      run(["rm", this.id]);
    } catch (e) {
      console.error(`container: buildah rm ${this.id}: ${e.message}`);
    }
    return codes;
  }
}

export const imageConfig = (ref) => configOf(ref, "image");
