// Unit test of the QMP client against a scripted fake QMP server on a temp unix socket.
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { QmpClient, QmpConnectionError, QmpError, type QmpEvent } from "./qmp";

type Cmd = { execute: string; id?: unknown; arguments?: Record<string, unknown> };
type Handler = (cmd: Cmd, conn: FakeConn) => void;

interface FakeConn {
  send(obj: unknown): void;
  sendRaw(text: string): void;
  end(): void;
  received: Cmd[];
}

const GREETING = {
  QMP: { version: { qemu: { major: 7, minor: 2, micro: 22 }, package: "fake" }, capabilities: ["oob"] },
};

let tmp: string;
let server: net.Server;
let sockPath: string;
let conns: FakeConn[];
let handler: Handler;
let greet: boolean;

beforeEach(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), "pa-qmp-"));
  sockPath = path.join(tmp, "qmp.sock");
  conns = [];
  greet = true;
  handler = (cmd, c) => c.send({ return: {}, id: cmd.id });
  server = net.createServer((socket) => {
    let buf = "";
    const conn: FakeConn = {
      send: (obj) => socket.write(JSON.stringify(obj) + "\r\n"),
      sendRaw: (t) => socket.write(t),
      end: () => socket.destroy(),
      received: [],
    };
    conns.push(conn);
    socket.on("error", () => {});
    socket.on("data", (d) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const cmd = JSON.parse(line) as Cmd;
        conn.received.push(cmd);
        if (cmd.execute === "qmp_capabilities") conn.send({ return: {}, id: cmd.id });
        else handler(cmd, conn);
      }
    });
    if (greet) conn.send(GREETING);
  });
  await new Promise<void>((r) => server.listen(sockPath, r));
});

afterEach(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  for (const c of conns) c.end();
  rmSync(tmp, { recursive: true, force: true });
});

describe("QmpClient", () => {
  it("reads the greeting and negotiates capabilities", async () => {
    const qmp = await QmpClient.connect(sockPath);
    expect(qmp.greeting.QMP.version.qemu.major).toBe(7);
    expect(conns[0]!.received[0]!.execute).toBe("qmp_capabilities");
    await qmp.close();
    expect(qmp.closed).toBe(true);
  });

  it("typed methods send the right commands and return replies", async () => {
    handler = (cmd, c) => {
      if (cmd.execute === "query-status")
        c.send({ return: { status: "running", running: true, singlestep: false }, id: cmd.id });
      else if (cmd.execute === "query-cpus-fast")
        c.send({
          return: [{ "cpu-index": 0, "qom-path": "/machine/unattached/device[0]", "thread-id": 42, target: "x86_64" }],
          id: cmd.id,
        });
      else c.send({ return: {}, id: cmd.id });
    };
    const qmp = await QmpClient.connect(sockPath);
    expect(await qmp.queryStatus()).toEqual({ status: "running", running: true, singlestep: false });
    expect((await qmp.queryCpusFast())[0]!["thread-id"]).toBe(42);
    await qmp.systemPowerdown();
    await qmp.systemReset();
    await qmp.stop();
    await qmp.cont();
    await qmp.blockResize("disk0", 1024);
    const sent = conns[0]!.received.slice(1);
    expect(sent.map((c) => c.execute)).toEqual([
      "query-status",
      "query-cpus-fast",
      "system_powerdown",
      "system_reset",
      "stop",
      "cont",
      "block_resize",
    ]);
    expect(sent[6]!.arguments).toEqual({ "node-name": "disk0", size: 1024 });
    // every command carries a distinct id
    expect(new Set(sent.map((c) => c.id)).size).toBe(sent.length);
    await qmp.close();
  });

  it("storage commands: blockdev/device add and del, medium change and forced eject", async () => {
    const qmp = await QmpClient.connect(sockPath);
    await qmp.blockdevAdd({ driver: "qcow2", "node-name": "vol1" });
    await qmp.deviceAdd({ driver: "virtio-blk-pci", id: "vol1" });
    await qmp.deviceDel("vol1");
    await qmp.blockdevDel("vol1");
    await qmp.changeMedium("cd0", "/cache/iso/disk");
    await qmp.eject("cd0");
    expect(conns[0]!.received.slice(1).map((c) => [c.execute, c.arguments])).toEqual([
      ["blockdev-add", { driver: "qcow2", "node-name": "vol1" }],
      ["device_add", { driver: "virtio-blk-pci", id: "vol1" }],
      ["device_del", { id: "vol1" }],
      ["blockdev-del", { "node-name": "vol1" }],
      [
        "blockdev-change-medium",
        { id: "cd0", filename: "/cache/iso/disk", format: "raw", "read-only-mode": "read-only" },
      ],
      ["eject", { id: "cd0", force: true }],
    ]);
    await qmp.close();
  });

  it("waitForEvent: the first matching event, null on timeout or when the socket closes", async () => {
    const qmp = await QmpClient.connect(sockPath);
    const conn = conns[0]!;
    const waiting = qmp.waitForEvent("DEVICE_DELETED", (e) => e.data?.device === "vol1", 2_000);
    conn.send({ event: "DEVICE_DELETED", data: { path: "/machine/peripheral/vol1/virtio-backend" } });
    conn.send({ event: "DEVICE_DELETED", data: { device: "vol1", path: "/machine/peripheral/vol1" } });
    expect((await waiting)?.data).toEqual({ device: "vol1", path: "/machine/peripheral/vol1" });
    expect(qmp.listenerCount("DEVICE_DELETED")).toBe(0);
    expect(await qmp.waitForEvent("DEVICE_DELETED", () => true, 50)).toBeNull();
    const abort = new AbortController();
    const aborted = qmp.waitForEvent("DEVICE_DELETED", () => true, 5_000, abort.signal);
    abort.abort();
    expect(await aborted).toBeNull();
    const closing = qmp.waitForEvent("DEVICE_DELETED", () => true, 5_000);
    conn.end();
    expect(await closing).toBeNull();
  });

  it("keeps one command in flight and matches replies by id", async () => {
    const pending: Cmd[] = [];
    handler = (cmd) => pending.push(cmd);
    const qmp = await QmpClient.connect(sockPath);
    const a = qmp.execute<string>("cmd-a");
    const b = qmp.execute<string>("cmd-b");
    const c = qmp.execute<string>("cmd-c");
    await new Promise((r) => setTimeout(r, 50));
    expect(pending.map((p) => p.execute)).toEqual(["cmd-a"]); // b and c are queued, not sent
    const conn = conns[0]!;
    conn.send({ return: "stale", id: "not-ours" }); // ignored
    conn.send({ return: "A", id: pending[0]!.id });
    expect(await a).toBe("A");
    await new Promise((r) => setTimeout(r, 20));
    expect(pending.map((p) => p.execute)).toEqual(["cmd-a", "cmd-b"]);
    conn.send({
      error: { class: "CommandNotFound", desc: "The command cmd-b has not been found" },
      id: pending[1]!.id,
    });
    const err = await b.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpError);
    expect((err as QmpError).errorClass).toBe("CommandNotFound");
    await new Promise((r) => setTimeout(r, 20));
    conn.send({ return: "C", id: pending[2]!.id });
    expect(await c).toBe("C");
    await qmp.close();
  });

  it("delivers events separately, also between a command and its reply", async () => {
    handler = (cmd, c) => {
      c.send({ event: "POWERDOWN", timestamp: { seconds: 1, microseconds: 2 } });
      c.send({ return: {}, id: cmd.id });
      c.send({
        event: "SHUTDOWN",
        data: { guest: true, reason: "guest-shutdown" },
        timestamp: { seconds: 1, microseconds: 3 },
      });
    };
    const qmp = await QmpClient.connect(sockPath);
    const events: QmpEvent[] = [];
    qmp.on("event", (e: QmpEvent) => events.push(e));
    const shutdown = new Promise<QmpEvent>((r) => qmp.once("SHUTDOWN", r));
    await qmp.systemPowerdown();
    expect((await shutdown).data).toEqual({ guest: true, reason: "guest-shutdown" });
    expect(events.map((e) => e.event)).toEqual(["POWERDOWN", "SHUTDOWN"]);
    await qmp.close();
  });

  it("handles replies split across and packed into TCP chunks", async () => {
    handler = (cmd, c) => {
      const text =
        JSON.stringify({ return: { status: "paused", running: false }, id: cmd.id }) +
        "\r\n" +
        JSON.stringify({ event: "STOP" }) +
        "\r\n";
      c.sendRaw(text.slice(0, 10));
      setTimeout(() => c.sendRaw(text.slice(10)), 20);
    };
    const qmp = await QmpClient.connect(sockPath);
    const stop = new Promise((r) => qmp.once("STOP", r));
    expect((await qmp.queryStatus()).status).toBe("paused");
    await stop;
    await qmp.close();
  });

  it("times out a command, drops its late reply, and carries on", async () => {
    let first: Cmd | null = null;
    handler = (cmd, c) => {
      if (!first)
        first = cmd; // never answered in time
      else c.send({ return: "second", id: cmd.id });
    };
    const qmp = await QmpClient.connect(sockPath, { commandTimeoutMs: 100 });
    const err = await qmp.execute("slow").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpConnectionError);
    expect((err as QmpConnectionError).kind).toBe("timeout");
    conns[0]!.send({ return: "late", id: first!.id });
    expect(await qmp.execute("fast")).toBe("second");
    await qmp.close();
  });

  it("times out when no greeting arrives (QEMU busy with another client)", async () => {
    greet = false;
    const err = await QmpClient.connect(sockPath, { connectTimeoutMs: 150 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpConnectionError);
    expect((err as QmpConnectionError).kind).toBe("timeout");
  });

  it("fails to connect to a missing socket", async () => {
    const err = await QmpClient.connect(path.join(tmp, "nope.sock")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpConnectionError);
    expect((err as QmpConnectionError).kind).toBe("connect");
  });

  it("rejects pending commands when QEMU goes away, but quit counts as done", async () => {
    handler = (cmd, c) => {
      if (cmd.execute === "quit") c.end(); // QEMU may exit before replying
    };
    const qmp = await QmpClient.connect(sockPath);
    const closed = new Promise((r) => qmp.once("close", r));
    const hanging = qmp.execute("query-status");
    const quit = qmp.quit();
    // query-status hangs (no reply); quit is queued behind it. Kill the connection from the server.
    await new Promise((r) => setTimeout(r, 30));
    conns[0]!.end();
    const err = await hanging.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpConnectionError);
    expect((err as QmpConnectionError).kind).toBe("closed");
    await expect(quit).resolves.toBeUndefined();
    await closed;
    expect(qmp.closed).toBe(true);
    await expect(qmp.queryStatus()).rejects.toBeInstanceOf(QmpConnectionError);
  });

  it("quit resolves when the server closes instead of replying", async () => {
    handler = (cmd, c) => {
      if (cmd.execute === "quit") c.end();
    };
    const qmp = await QmpClient.connect(sockPath);
    await expect(qmp.quit()).resolves.toBeUndefined();
  });

  it("close() rejects queued commands and does not hang", async () => {
    handler = () => {};
    const qmp = await QmpClient.connect(sockPath);
    const p = qmp.execute("never").catch((e: unknown) => e);
    await qmp.close();
    expect(await p).toBeInstanceOf(QmpConnectionError);
  });

  it("ignores garbage lines without losing the stream", async () => {
    handler = (cmd, c) => {
      c.sendRaw("this is not json\r\n");
      c.send({ return: 7, id: cmd.id });
    };
    const qmp = await QmpClient.connect(sockPath);
    const protoErrors: unknown[] = [];
    qmp.on("protocol-error", (e) => protoErrors.push(e));
    expect(await qmp.execute("x")).toBe(7);
    expect(protoErrors).toHaveLength(1);
    await qmp.close();
  });
});
