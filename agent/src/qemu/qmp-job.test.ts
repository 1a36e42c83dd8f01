// Unit test of runQmpJob against a scripted fake QMP server on a temp unix socket: the job's own
// error becomes the exception, a concluded job is always dismissed, a vanished job and a job that
// never ends are errors. (Real snapshot jobs: agent/src/vm/snapshots.int.test.ts.)
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { QmpClient } from "./qmp";
import { runQmpJob } from "./qmp-job";

type Cmd = { execute: string; id?: unknown; arguments?: Record<string, unknown> };

let tmp: string;
let server: net.Server;
let received: Cmd[];
/** what query-jobs answers for the job started last, per poll */
let jobStates: Array<{ status: string; error?: string } | null>;
let client: QmpClient | null;

beforeEach(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), "pa-qjob-"));
  received = [];
  jobStates = [];
  client = null;
  let jobId = "";
  server = net.createServer((socket) => {
    const send = (obj: unknown) => socket.write(JSON.stringify(obj) + "\r\n");
    let buf = "";
    socket.on("error", () => {});
    socket.on("data", (d) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const cmd = JSON.parse(buf.slice(0, nl)) as Cmd;
        buf = buf.slice(nl + 1);
        received.push(cmd);
        if (cmd.execute === "query-jobs") {
          const st = jobStates.length > 1 ? jobStates.shift()! : jobStates[0]!;
          send({
            return: st ? [{ id: jobId, type: "snapshot-save", "current-progress": 0, "total-progress": 1, ...st }] : [],
            id: cmd.id,
          });
        } else {
          if (typeof cmd.arguments?.["job-id"] === "string") jobId = cmd.arguments["job-id"];
          send({ return: {}, id: cmd.id });
        }
      }
    });
    send({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 }, package: "fake" }, capabilities: [] } });
  });
  await new Promise<void>((r) => server.listen(path.join(tmp, "qmp.sock"), r));
});

afterEach(async () => {
  await client?.close();
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(tmp, { recursive: true, force: true });
});

const connect = async () => (client = await QmpClient.connect(path.join(tmp, "qmp.sock")));
const commands = () => received.map((c) => c.execute).filter((c) => c !== "qmp_capabilities");

it("starts the job with a fresh job-id, waits until it concludes and dismisses it", async () => {
  jobStates = [{ status: "created" }, { status: "running" }, { status: "concluded" }];
  await runQmpJob(await connect(), "snapshot-save", { tag: "pa-x" }, { timeoutMs: 5_000 });
  expect(commands()).toEqual(["snapshot-save", "query-jobs", "query-jobs", "query-jobs", "job-dismiss"]);
  const start = received.find((c) => c.execute === "snapshot-save")!;
  expect(start.arguments).toMatchObject({
    tag: "pa-x",
    "job-id": expect.stringMatching(/^pa-snapshot-save-[0-9a-f]{8}$/),
  });
  expect(received.find((c) => c.execute === "job-dismiss")!.arguments).toEqual({ id: start.arguments!["job-id"] });
});

it("throws QEMU's error of a failed job, after dismissing it", async () => {
  jobStates = [{ status: "concluded", error: "Device 'pflash1' is writable but does not support snapshots" }];
  await expect(runQmpJob(await connect(), "snapshot-save", {}, { timeoutMs: 5_000 })).rejects.toThrow(
    "QMP snapshot-save failed: Device 'pflash1' is writable but does not support snapshots",
  );
  expect(commands()).toContain("job-dismiss");
});

it("fails when the job vanishes or does not end in time", async () => {
  jobStates = [null];
  await expect(runQmpJob(await connect(), "snapshot-load", {}, { timeoutMs: 5_000 })).rejects.toThrow(
    /disappeared before it concluded/,
  );
  jobStates = [{ status: "running" }];
  await expect(runQmpJob(client!, "snapshot-load", {}, { timeoutMs: 300 })).rejects.toThrow(
    /still running after 300 ms/,
  );
});
