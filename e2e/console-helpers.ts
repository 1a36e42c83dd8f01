import { expect, request as pwRequest, type APIRequestContext } from "@playwright/test";
import { resolve } from "node:path";
import { agentControllerUrl, baseURL } from "../playwright.config";
import { connectWebSocket, UpgradeRefused } from "../agent/src/console";
import { storageStateFor } from "./helpers";
import { E2E_DATA_DIR } from "./paths";
import type { Fleet } from "../scripts/fleet/fleet.mjs";

// What the specs on the real mixed fleet share (console, vnc, network-ping, fleet, migration, ha,
// maintenance): starting the fleet (scripts/fleet/fleet.mjs), waiting for its hosts, console tickets
// and their sockets.

export type { Fleet, FleetAgent } from "../scripts/fleet/fleet.mjs";
export type OnlineHost = { id: string; name: string; arch: string; agentUrl: string | null };
export const FLEET_JOIN_TOKEN = "e2e-join-token-0123456789abcdef";
/** Agents per arch; the default fleet is one x86_64 and one aarch64 agent. */
export type FleetCounts = { x86_64?: number; aarch64?: number };

/**
 * A fleet against the e2e controller's agent TLS port (the same data dir for every spec): one x86_64
 * and one aarch64 agent, or `counts` of each (0 leaves an arch out; the n-th agent of an arch gets
 * machine id local-<arch>-<n>).
 */
export async function startMixedFleet(counts: FleetCounts = { x86_64: 1, aarch64: 1 }): Promise<Fleet> {
  const { startFleet } = (await import(
    resolve("scripts/fleet/fleet.mjs")
  )) as typeof import("../scripts/fleet/fleet.mjs");
  return startFleet({
    controllerUrl: agentControllerUrl,
    controllerCa: resolve(E2E_DATA_DIR, "pki/ca/cert.pem"),
    joinToken: FLEET_JOIN_TOKEN,
    dataDir: resolve(E2E_DATA_DIR, "fleet"),
    fleet: counts,
    strict: true,
    handleSignals: false,
    log: (m: string) => console.log(`[fleet] ${m}`),
  });
}

/** An API context signed in as the seeded admin. */
export const adminApi = () => pwRequest.newContext({ baseURL, storageState: storageStateFor("admin") });

/**
 * Waits until every agent of `fleet` is a connected host of its arch (its heartbeats arrive; its
 * admin state — e.g. disabled by an earlier spec — does not matter here; hosts of earlier specs neither).
 */
export async function waitForAgentsOnline(admin: APIRequestContext, fleet: Fleet): Promise<void> {
  const want = fleet.agents.map((a) => `${a.hostId}:${a.arch}`).sort();
  const ids = new Set(fleet.agents.map((a) => a.hostId));
  await expect
    .poll(
      async () => {
        const hosts = (await (await admin.get("/api/v1/hosts?pageSize=200")).json()).items as (OnlineHost & {
          connectivity: string;
        })[];
        return hosts
          .filter((h) => ids.has(h.id) && h.connectivity === "online")
          .map((h) => `${h.id}:${h.arch}`)
          .sort();
      },
      { timeout: 90_000, message: "every agent of the fleet online" },
    )
    .toEqual(want);
}

/**
 * Waits until the online hosts (the seeded ones aside) are exactly `fleet`'s agents, one x86_64 and
 * one aarch64, each *at this fleet's agent URL*. Right after another spec stopped its fleet, its hosts
 * still look online until their heartbeat timeout — the same rows (same machine ids) at the old
 * agents' addresses, and any extra agents it had: a VM placed then goes to an agent that is gone
 * (seen when this fleet's emulated aarch64 agent was slow to announce itself).
 */
export async function waitForFleetOnline(admin: APIRequestContext, fleet: Fleet): Promise<void> {
  const urls = new Set(fleet.agents.map((a) => a.url));
  await expect
    .poll(
      async () =>
        ((await (await admin.get("/api/v1/hosts?pageSize=200&status=online")).json()).items as OnlineHost[])
          .filter((h) => !h.name.startsWith("seed-"))
          .map((h) => `${h.arch}${h.agentUrl && urls.has(h.agentUrl) ? "" : ` at ${h.agentUrl} (not this fleet)`}`)
          .sort(),
      { timeout: 90_000, message: "only this fleet's agents online, at their own URLs" },
    )
    .toEqual(["aarch64", "x86_64"]);
}

/** ws:// URL of a path on the e2e controller. */
export const wsUrl = (path: string) => `${baseURL.replace(/^http/, "ws")}${path}`;

export type Ticket = { ticket: string; url: string; write: boolean; kind: string };

/** A console ticket asking for write access (`kind` omitted: the server's default, serial); expects 200. */
export async function ticketFor(ctx: APIRequestContext, vmId: string, kind?: "serial" | "vnc"): Promise<Ticket> {
  const res = await ctx.post(`/api/v1/vms/${vmId}/console-ticket`, {
    data: kind ? { write: true, kind } : { write: true },
  });
  expect(res.status(), await res.text()).toBe(200);
  return (await res.json()) as Ticket;
}

/** 101 when the WebSocket upgrade of `path` (on the e2e controller) is accepted, else the refusal's status. */
export async function upgradeStatus(path: string): Promise<number> {
  try {
    (await connectWebSocket(wsUrl(path))).terminate();
    return 101;
  } catch (e) {
    if (e instanceof UpgradeRefused) return e.status;
    throw e;
  }
}
