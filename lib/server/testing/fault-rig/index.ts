// The fault rig (issue 15; docs/reliability.md): a real controller process (the built console) on a
// fresh database the test process shares, a real fleet of agents (QEMU, userspace OVS) joined to it
// over mutual TLS, an admin API client, and the invariant check every fault test ends with.
//
//   const rig = await startRig({ provider: "sqlite", fleet: { x86_64: 1 } });
//   … break something: rig.controller.kill(), rig.fleet.killAgent(…), …
//   await rig.settle();          // waits until every invariant holds, or throws with what does not
//   await rig.stop();            // in afterAll: agents, QEMUs, OVS, controller, database, temp dirs
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startFleet, type Fleet, type FleetCounts } from "../../../../scripts/fleet/fleet.mjs";
import { db } from "../../platform";
import { releaseDatabase, useFreshDatabase as freshDatabase } from "../server-db";
import type { TestDatabase } from "../../../../prisma/test-db";
import { Api } from "./api";
import { ControllerProcess, JOIN_TOKEN, type ControllerOptions } from "./controller";
import { kernelTaps, waitForInvariants, type InvariantOptions } from "./invariants";

export { Api, type ApiAnswer, type MaybeAnswer } from "./api";
export { ADMIN, ControllerProcess, JOIN_TOKEN, missingBuild } from "./controller";
export { findProblems, fleetQemus, kernelTaps, tapOf, waitForInvariants } from "./invariants";

export interface RigOptions extends ControllerOptions {
  provider?: "sqlite" | "postgresql";
  /** agents per arch; {} = no fleet (controller only) */
  fleet?: FleetCounts;
  /** agent heartbeat period (ms); default 2000 so that a fault is noticed quickly */
  heartbeatMs?: number;
  /** run the fleet (agents, OVS, QEMUs) inside this network namespace, agents listening on `listenHost` */
  fleetNetns?: { name: string; listenHost: string };
}

export interface Rig {
  controller: ControllerProcess;
  api: Api;
  fleet: Fleet;
  database: TestDatabase;
  /** a scratch dir removed by stop() */
  dir: string;
  /** waits until every invariant holds (default 90 s), else throws listing the violations */
  settle(opts?: InvariantOptions & { timeoutMs?: number }): Promise<void>;
  /** waits until the fleet's hosts are online in the database */
  hostsOnline(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startRig(opts: RigOptions = {}): Promise<Rig> {
  const database = await freshDatabase(opts.provider ?? "sqlite");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pa-faults-"));
  const tapsBefore = new Set(kernelTaps());
  let controller: ControllerProcess | null = null;
  let fleet: Fleet | null = null;
  const stop = async () => {
    await fleet?.stop().catch((e: unknown) => console.error("fleet stop:", e));
    await controller?.stop().catch((e: unknown) => console.error("controller stop:", e));
    await releaseDatabase(database).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    controller = await ControllerProcess.start({ env: opts.env, netns: opts.netns });
    const api = await Api.asAdmin(controller.url);
    fleet = await startFleet({
      controllerUrl: controller.agentTlsUrl,
      controllerCa: controller.caFile,
      joinToken: JOIN_TOKEN,
      dataDir: path.join(dir, "fleet"),
      fleet: opts.fleet ?? { x86_64: 1 },
      machineIdPrefix: "fault",
      heartbeatMs: opts.heartbeatMs ?? 2_000,
      strict: true,
      handleSignals: false,
      log: () => undefined,
      ...(opts.fleetNetns ? { netns: opts.fleetNetns.name, listenHost: opts.fleetNetns.listenHost } : {}),
    });
    const f = fleet;
    const hostsOnline = async (timeoutMs = 60_000) => {
      const ids = f.agents.map((a) => a.hostId).filter((id): id is string => !!id);
      const end = Date.now() + timeoutMs;
      while ((await db().host.count({ where: { id: { in: ids }, status: "online" } })) < ids.length) {
        if (Date.now() > end) throw new Error(`hosts not online after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    await hostsOnline();
    return {
      controller,
      api,
      fleet,
      database,
      dir,
      settle: (o = {}) => waitForInvariants(f, { tapsBefore, ...o }),
      hostsOnline,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
