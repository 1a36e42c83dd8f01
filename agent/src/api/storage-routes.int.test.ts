// Agent API storage routes (issue 13): volumes with a REAL VmManager and real qemu-img in a temp
// state dir (no guest is started), snapshot and disk-export routes' validation, auth and errors,
// and the disk export stream (Content-Length; its temporary file removed also when the client aborts).
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  agentVolumeDeleteResponseSchema,
  agentVolumeListResponseSchema,
  agentVolumeSchema,
  type HostFacts,
  type VmSpecInput,
} from "../../../lib/schemas/agent-api";
import { until } from "../testing/support";
import { VmManager } from "../vm";
import { TokenVerifier } from "./auth";
import { closeServer, createAgentServer, listen, type VmBackend } from "./server";

const TOKEN = "agent-test-token-0123456789";

interface Reply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  headers: http.IncomingHttpHeaders;
}

/** Raw node:http client: the path goes out verbatim (fetch would normalise `..`). */
function request(
  port: number,
  method: string,
  rawPath: string,
  opts: { token?: string | null; body?: unknown } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    const token = opts.token === undefined ? TOKEN : opts.token;
    if (token) headers.authorization = `Bearer ${token}`;
    const body =
      opts.body === undefined ? undefined : typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
    if (body !== undefined) {
      headers["content-type"] = "application/json";
      headers["content-length"] = String(Buffer.byteLength(body));
    }
    const req = http.request({ host: "127.0.0.1", port, method, path: rawPath, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let parsed: unknown = text;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          /* keep text */
        }
        resolve({ status: res.statusCode ?? 0, body: parsed, headers: res.headers });
      });
    });
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function facts(): HostFacts {
  return {
    hostname: "test",
    machineId: "m-test",
    arch: "x86_64",
    cpuCount: 2,
    cpuModel: "test cpu",
    memoryMb: 4096,
    diskGb: 100,
    kvm: false,
    qemu: { version: "7.2.22", binaries: { x86_64: "/usr/bin/qemu-system-x86_64" }, firmware: {} },
    ovs: { available: false, version: null, datapath: null },
    nativeArches: [],
    emulatedArches: ["x86_64"],
    maxVcpusNative: null,
    maxVcpusEmulated: 2,
    agentVersion: "0.1.0",
  };
}

function hasBin(bin: string): boolean {
  try {
    execFileSync(bin, ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
const haveQemuImg = hasBin("qemu-img") && hasBin("qemu-io");

describe.skipIf(!haveQemuImg)(
  `agent API: volumes (real VmManager, real qemu-img)${haveQemuImg ? "" : " (skipped: qemu-img/qemu-io not installed)"}`,
  () => {
    let root: string;
    let stateDir: string;
    let manager: VmManager;
    let server: http.Server;
    let port: number;
    let srcImage: string;
    let bigImage: string;
    const volDir = () => path.join(stateDir, "volumes");

    beforeAll(async () => {
      root = fs.mkdtempSync(path.join(os.tmpdir(), "pa-vol-"));
      stateDir = path.join(root, "state");
      const kernel = path.join(root, "vmlinuz");
      fs.writeFileSync(kernel, "not a kernel: no VM in this file is started");
      // A source image with recognisable data at its start and its end.
      srcImage = path.join(root, "src.qcow2");
      execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", srcImage, "64M"]);
      execFileSync("qemu-io", ["-f", "qcow2", "-c", "write -P 0x5a 0 64k", "-c", "write -P 0xa5 63M 64k", srcImage], {
        stdio: "ignore",
      });
      bigImage = path.join(root, "big.raw");
      execFileSync("qemu-img", ["create", "-q", "-f", "raw", bigImage, "3G"]);
      manager = new VmManager({
        stateDir,
        hostArch: "x86_64",
        kvm: false,
        qemuBinaries: facts().qemu.binaries,
        firmware: {},
        resolveImage: async (ref) => {
          if (ref.type === "kernel") return { kernel };
          if (ref.imageId === "img-src") return { disk: srcImage };
          if (ref.imageId === "img-big") return { disk: bigImage };
          throw Object.assign(new Error(`no image ${ref.imageId} in this test`), { code: "unavailable" });
        },
        hostLimits: { cpuCount: 2, memoryMb: 4096 },
      });
      await manager.init();
      const auth = new TokenVerifier();
      auth.set(TOKEN);
      server = createAgentServer({
        facts,
        usage: async () => ({ cpuPct: 0, memoryUsedMb: 1, diskUsedGb: 0, loadAvg: [0, 0, 0] }),
        vms: manager,
        auth,
      });
      port = (await listen(server, "127.0.0.1", 0)).port;
    });

    afterAll(async () => {
      await closeServer(server);
      await manager.close();
      fs.rmSync(root, { recursive: true, force: true });
    });

    const vmSpec = (over: Partial<VmSpecInput> = {}): VmSpecInput => ({
      name: "vm-vol",
      arch: "x86_64",
      vcpus: 1,
      memoryMb: 128,
      diskGb: 1,
      boot: { type: "kernel", imageId: "img-k", cmdline: "" },
      powerState: "stopped",
      ...over,
    });

    it("401 without the token on every storage route, before any id or body check", async () => {
      for (const [m, p] of [
        ["GET", "/v1/volumes"],
        ["PUT", "/v1/volumes/v1"],
        ["DELETE", "/v1/volumes/v1"],
        ["PUT", "/v1/volumes/.."],
        ["GET", "/v1/vms/a/snapshots"],
        ["POST", "/v1/vms/a/snapshots"],
        ["POST", "/v1/vms/a/snapshots/s1/revert"],
        ["DELETE", "/v1/vms/a/snapshots/s1"],
        ["GET", "/v1/vms/a/disk"],
        ["GET", "/v1/vms/a/disk?snapshot=s1"],
      ] as const) {
        for (const token of [null, "wrong-token-0123456789"]) {
          const r = await request(port, m, p, { token, body: m === "GET" || m === "DELETE" ? undefined : "{}" });
          expect(r.status, `${m} ${p}`).toBe(401);
          expect(r.body.error.code).toBe("unauthorized");
        }
      }
      expect(fs.existsSync(volDir())).toBe(false);
    });

    it("400 for bad ids in every storage route, 405 for wrong methods", async () => {
      for (const bad of ["..", "%2e%2e", "a%2Fb", "-x", "%00", "a".repeat(65)]) {
        for (const [m, p] of [
          ["PUT", `/v1/volumes/${bad}`],
          ["DELETE", `/v1/volumes/${bad}`],
          ["GET", `/v1/vms/${bad}/snapshots`],
          ["POST", `/v1/vms/${bad}/snapshots`],
          ["DELETE", `/v1/vms/ok/snapshots/${bad}`],
          ["POST", `/v1/vms/ok/snapshots/${bad}/revert`],
          ["POST", `/v1/vms/${bad}/snapshots/s1/revert`],
          ["GET", `/v1/vms/${bad}/disk`],
        ] as const) {
          const r = await request(port, m, p, {
            body: m === "PUT" || m === "POST" ? { sizeGb: 1, id: "s" } : undefined,
          });
          expect(r.status, `${m} ${p}`).toBe(400);
          expect(r.body.error.code).toBe("invalid");
        }
      }
      // an id with a '/' inside is never split into another route
      expect((await request(port, "DELETE", "/v1/vms/ok/snapshots/a/b")).status).toBe(400);
      for (const [m, p, allow] of [
        ["POST", "/v1/volumes", "GET"],
        ["GET", "/v1/volumes/v1", "PUT, DELETE"],
        ["PUT", "/v1/vms/a/snapshots", "GET, POST"],
        ["GET", "/v1/vms/a/snapshots/s1/revert", "POST"],
        ["POST", "/v1/vms/a/disk", "GET"],
      ] as const) {
        const r = await request(port, m, p, { body: m === "GET" ? undefined : "{}" });
        expect(r.status, `${m} ${p}`).toBe(405);
        expect(r.headers.allow).toBe(allow);
      }
      expect(fs.existsSync(volDir())).toBe(false);
    });

    it("400 for bad bodies and queries, 422 for a volume larger than the host's disk", async () => {
      for (const body of [
        "{not json",
        "",
        { sizeGb: 0 },
        { sizeGb: 1.5 },
        { sizeGb: "1" },
        { sizeGb: 1, source: { imageId: "../etc", format: "qcow2" } },
        { sizeGb: 1, source: { imageId: "img", format: "vmdk" } },
        { sizeGb: 1, source: { imageId: "img", format: "raw", sha256: "xyz" } },
      ]) {
        const r = await request(port, "PUT", "/v1/volumes/v1", { body });
        expect(r.status, JSON.stringify(body)).toBe(400);
      }
      const big = await request(port, "PUT", "/v1/volumes/v1", { body: { sizeGb: 101 } });
      expect(big.status).toBe(422);
      expect(big.body.error.message).toMatch(/101 GB volume.*100 GB/);
      for (const body of [{}, { id: "../s" }, { id: "s1", memory: "yes" }]) {
        expect((await request(port, "POST", "/v1/vms/vm1/snapshots", { body })).status).toBe(400);
      }
      for (const q of ["?snapshot=..", "?snapshot=a%2Fb", "?other=1", "?snapshot="]) {
        const r = await request(port, "GET", `/v1/vms/vm1/disk${q}`);
        expect(r.status, q).toBe(400);
      }
      expect(fs.existsSync(volDir())).toBe(false);
    });

    it("404 for snapshots and disks of VMs that are not here", async () => {
      expect((await request(port, "GET", "/v1/vms/nope/snapshots")).status).toBe(404);
      expect((await request(port, "POST", "/v1/vms/nope/snapshots", { body: { id: "s1" } })).status).toBe(404);
      expect((await request(port, "POST", "/v1/vms/nope/snapshots/s1/revert")).status).toBe(404);
      expect((await request(port, "DELETE", "/v1/vms/nope/snapshots/s1")).status).toBe(404);
      expect((await request(port, "GET", "/v1/vms/nope/disk")).status).toBe(404);
    });

    it("creates a blank volume (201), answers the same PUT with 200, grows it, refuses to shrink it", async () => {
      const c = await request(port, "PUT", "/v1/volumes/v1", { body: { sizeGb: 1 } });
      expect(c.status).toBe(201);
      expect(agentVolumeSchema.parse(c.body)).toMatchObject({ id: "v1", sizeGb: 1, attachedTo: null });
      expect(fs.readdirSync(volDir())).toEqual(["v1.qcow2"]);
      expect((await request(port, "PUT", "/v1/volumes/v1", { body: { sizeGb: 1 } })).status).toBe(200);
      const g = await request(port, "PUT", "/v1/volumes/v1", { body: { sizeGb: 3 } });
      expect(g).toMatchObject({ status: 200, body: { id: "v1", sizeGb: 3 } });
      const s = await request(port, "PUT", "/v1/volumes/v1", { body: { sizeGb: 2 } });
      expect(s.status).toBe(409);
      expect(s.body.error.message).toMatch(/3 GiB.*only grow.*2 GiB/);
      const info = JSON.parse(
        execFileSync("qemu-img", ["info", "--output=json", path.join(volDir(), "v1.qcow2")], { encoding: "utf8" }),
      ) as Record<string, unknown>;
      expect(info["virtual-size"]).toBe(3 * 1024 ** 3);
    });

    it("copies a source image into a standalone qcow2 (no backing file) of the asked size", async () => {
      const r = await request(port, "PUT", "/v1/volumes/v-src", {
        body: { sizeGb: 1, source: { imageId: "img-src", format: "qcow2" } },
      });
      expect(r.status).toBe(201);
      expect(r.body).toMatchObject({ id: "v-src", sizeGb: 1 });
      const file = path.join(volDir(), "v-src.qcow2");
      const info = JSON.parse(
        execFileSync("qemu-img", ["info", "--output=json", file], { encoding: "utf8" }),
      ) as Record<string, unknown>;
      expect(info["backing-filename"]).toBeUndefined();
      expect(info["virtual-size"]).toBe(1024 ** 3);
      // the data came along (the extra space reads as zeroes: compare in non-strict mode)
      execFileSync("qemu-img", ["compare", "-q", "-f", "qcow2", "-F", "qcow2", srcImage, file]);
      // the source may go: the volume does not need it
      expect(
        execFileSync("qemu-io", ["-f", "qcow2", "-r", "-c", "read -P 0xa5 63M 64k", file], { encoding: "utf8" }),
      ).not.toMatch(/Pattern verification failed/);
    });

    it("refuses a source image larger than the volume or unavailable, leaving nothing behind", async () => {
      const r = await request(port, "PUT", "/v1/volumes/v-big", {
        body: { sizeGb: 2, source: { imageId: "img-big", format: "raw" } },
      });
      expect(r.status).toBe(422);
      expect(r.body.error.message).toMatch(/img-big needs a 3 GiB volume; sizeGb is 2/);
      const u = await request(port, "PUT", "/v1/volumes/v-none", {
        body: { sizeGb: 2, source: { imageId: "img-none", format: "raw" } },
      });
      expect(u.status).toBe(503);
      expect(fs.readdirSync(volDir()).sort()).toEqual(["v-src.qcow2", "v1.qcow2"]);
    });

    it("a VM spec naming a volume that is not here: 404 and no VM; attachment is exclusive; delete waits for detach", async () => {
      const missing = await request(port, "PUT", "/v1/vms/vm-a", { body: vmSpec({ volumes: [{ id: "v-nope" }] }) });
      expect(missing.status).toBe(404);
      expect(missing.body.error.message).toMatch(/volume v-nope does not exist on this host/);
      expect(fs.existsSync(path.join(stateDir, "vms", "vm-a"))).toBe(false);

      const a = await request(port, "PUT", "/v1/vms/vm-a", { body: vmSpec({ volumes: [{ id: "v1" }] }) });
      expect(a.status).toBe(201);
      const list = await request(port, "GET", "/v1/volumes");
      expect(agentVolumeListResponseSchema.parse(list.body).volumes).toEqual([
        expect.objectContaining({ id: "v-src", attachedTo: null }),
        expect.objectContaining({ id: "v1", attachedTo: "vm-a", sizeGb: 3 }),
      ]);
      const b = await request(port, "PUT", "/v1/vms/vm-b", { body: vmSpec({ volumes: [{ id: "v1" }] }) });
      expect(b.status).toBe(409);
      expect(b.body.error.message).toMatch(/volume v1 is attached to VM vm-a/);
      expect(fs.existsSync(path.join(stateDir, "vms", "vm-b"))).toBe(false);
      // an existing VM that adds a missing volume changes nothing
      const add = await request(port, "PUT", "/v1/vms/vm-a", {
        body: vmSpec({ volumes: [{ id: "v1" }, { id: "v-nope" }] }),
      });
      expect(add.status).toBe(404);
      expect((await manager.getSpec("vm-a"))?.volumes).toEqual([{ id: "v1" }]);

      const d = await request(port, "DELETE", "/v1/volumes/v1");
      expect(d.status).toBe(409);
      expect(d.body.error.message).toMatch(/attached to VM vm-a; detach it first/);
      // a stopped VM grows its volume offline too
      expect((await request(port, "PUT", "/v1/volumes/v1", { body: { sizeGb: 4 } })).body.sizeGb).toBe(4);

      // a stopped VM takes a CD medium into its spec; it is opened at the next start
      const cd = await request(port, "PUT", "/v1/vms/vm-a", {
        body: vmSpec({ volumes: [{ id: "v1" }], cdrom: { imageId: "img-iso" } }),
      });
      expect(cd.status).toBe(200);
      expect((await manager.getSpec("vm-a"))?.cdrom).toEqual({ imageId: "img-iso" });
      expect((await manager.imageUsers()).get("img-iso")?.map((v) => v.id)).toEqual(["vm-a"]);
      // detach (stopped VM: just the spec), then the volume can go to vm-b
      expect((await request(port, "PUT", "/v1/vms/vm-a", { body: vmSpec({ volumes: [] }) })).status).toBe(200);
      expect((await request(port, "PUT", "/v1/vms/vm-b", { body: vmSpec({ volumes: [{ id: "v1" }] }) })).status).toBe(
        201,
      );
      // deleting the VM keeps its volume
      expect((await request(port, "DELETE", "/v1/vms/vm-b")).status).toBe(200);
      expect(fs.existsSync(path.join(volDir(), "v1.qcow2"))).toBe(true);
      const del = await request(port, "DELETE", "/v1/volumes/v1");
      expect(del.status).toBe(200);
      expect(agentVolumeDeleteResponseSchema.parse(del.body)).toEqual({ id: "v1", deleted: true });
      expect((await request(port, "DELETE", "/v1/volumes/v1")).status).toBe(404);
      expect(fs.readdirSync(volDir())).toEqual(["v-src.qcow2"]);
    });
  },
);

describe("agent API: disk export stream", () => {
  async function withExport(
    sizeBytes: number,
    fn: (port: number, file: string, cleaned: () => boolean, logs: unknown[][]) => Promise<void>,
  ): Promise<void> {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "pa-exp-"));
    const file = path.join(root, "export.qcow2");
    const fh = fs.openSync(file, "w");
    fs.writeSync(fh, Buffer.from("QFI\xfb-start"), 0, 10, 0);
    fs.ftruncateSync(fh, sizeBytes);
    fs.closeSync(fh);
    let cleaned = false;
    const calls: unknown[] = [];
    const fail = async (): Promise<never> => {
      throw Object.assign(new Error("no VM"), { code: "not_found" });
    };
    const vms: VmBackend = {
      list: async () => [],
      get: fail,
      apply: fail,
      action: fail,
      delete: fail,
      exportDisk: async (id, opts) => {
        calls.push([id, opts]);
        if (id !== "vm1") return fail();
        return {
          path: file,
          sizeBytes,
          cleanup: async () => {
            cleaned = true;
            fs.rmSync(file, { force: true });
          },
        };
      },
    };
    const auth = new TokenVerifier();
    auth.set(TOKEN);
    const logs: unknown[][] = [];
    const server = createAgentServer({
      facts,
      usage: async () => ({ cpuPct: 0, memoryUsedMb: 0, diskUsedGb: 0, loadAvg: [] }),
      vms,
      auth,
      log: (...a) => logs.push(a),
    });
    const { port } = await listen(server, "127.0.0.1", 0);
    try {
      await fn(port, file, () => cleaned, logs);
      expect(calls[0]).toEqual(["vm1", expect.any(Object)]);
    } finally {
      await closeServer(server);
      fs.rmSync(root, { recursive: true, force: true });
    }
  }

  it("streams the file with its Content-Length and removes it afterwards", async () => {
    await withExport(3 * 1024 * 1024 + 7, async (port, file, cleaned) => {
      const res = await fetch(`http://127.0.0.1:${port}/v1/vms/vm1/disk?snapshot=s1`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("application/octet-stream");
      expect(res.headers.get("content-length")).toBe(String(3 * 1024 * 1024 + 7));
      const body = Buffer.from(await res.arrayBuffer());
      expect(body.length).toBe(3 * 1024 * 1024 + 7);
      expect(body.subarray(0, 3).toString("latin1")).toBe("QFI");
      await until(() => cleaned(), "cleanup", 5_000);
      expect(fs.existsSync(file)).toBe(false);
      // unknown VM: the backend's 404
      const nf = await fetch(`http://127.0.0.1:${port}/v1/vms/nope/disk`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(nf.status).toBe(404);
    });
  });

  it("a client that goes away mid-stream still gets the temporary file removed", async () => {
    await withExport(256 * 1024 * 1024, async (port, file, cleaned, logs) => {
      await new Promise<void>((resolve, reject) => {
        const req = http.get(
          {
            host: "127.0.0.1",
            port,
            path: "/v1/vms/vm1/disk",
            headers: { authorization: `Bearer ${TOKEN}` },
            agent: false,
          },
          (res) => {
            expect(res.headers["content-length"]).toBe(String(256 * 1024 * 1024));
            res.once("data", () => {
              req.destroy(); // abort after the first chunk
              resolve();
            });
          },
        );
        req.on("error", (e) => {
          if ((e as NodeJS.ErrnoException).code !== "ECONNRESET") reject(e);
        });
      });
      await until(() => cleaned(), "cleanup after the abort", 10_000);
      expect(fs.existsSync(file)).toBe(false);
      expect(JSON.stringify(logs)).toContain("api.disk_export_aborted");
    });
  });
});
