import { expect, request as pwRequest, type APIRequestContext } from "@playwright/test";
import { resolve } from "node:path";
import { agentControllerUrl, baseURL } from "../playwright.config";
import { connectWebSocket, UpgradeRefused } from "../agent/src/console";
import { storageStateFor } from "./helpers";
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
    controllerCa: resolve(".cache/e2e-data/pki/ca/cert.pem"),
    joinToken: FLEET_JOIN_TOKEN,
    dataDir: resolve(".cache/e2e-data/fleet"),
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

/** Waits until the online hosts that `which` picks (default: all but the seeded ones) are one x86_64 and one aarch64. */
export async function waitForFleetOnline(
  admin: APIRequestContext,
  which: (h: OnlineHost) => boolean = (h) => !h.name.startsWith("seed-"),
): Promise<void> {
  await expect
    .poll(
      async () =>
        ((await (await admin.get("/api/v1/hosts?pageSize=200&status=online")).json()).items as OnlineHost[])
          .filter(which)
          .map((h) => h.arch)
          .sort(),
      { timeout: 90_000 },
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
