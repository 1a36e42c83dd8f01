import { test, expect, request as pwRequest } from "@playwright/test";
import { baseURL } from "../playwright.config";
import { storageStateFor } from "./helpers";

// Join tokens, token rotation and revocation from the console (docs/decisions/017-agent-tls.md).
// The host is registered through the agent API by this test (no agent process: its URL is a
// closed port), runs nothing (no arches) and is revoked at the end, so no VM lands on it. Its name
// is not seed-… (lists.spec counts those) and it is offline once revoked (fleet specs count online hosts).
const BOOTSTRAP = "e2e-join-token-0123456789abcdef";

function facts(machineId: string) {
  return {
    hostname: `e2e-tls-${machineId}`,
    machineId,
    arch: "x86_64",
    cpuCount: 2,
    cpuModel: "e2e",
    memoryMb: 1024,
    diskGb: 10,
    kvm: false,
    qemu: { version: null, binaries: {}, firmware: {} },
    ovs: { available: false, version: null, datapath: null },
    nativeArches: [],
    emulatedArches: [],
    maxVcpusNative: null,
    maxVcpusEmulated: null,
    agentVersion: "e2e",
  };
}
const hb = { usage: { cpuPct: 0, memoryUsedMb: 0, diskUsedGb: 0, loadAvg: [] }, vms: [] };

test("an admin creates a single-use join token, rotates the host's token and revokes the host", async ({ browser }) => {
  const ctx = await browser.newContext({ storageState: storageStateFor("admin") });
  const page = await ctx.newPage();
  page.on("dialog", (d) => void d.accept());
  const agentApi = await pwRequest.newContext({ baseURL });
  const machineId = `tls-${Date.now().toString(36)}`;
  try {
    await page.goto("/hosts");
    await page.getByText("Add a node").click();
    await expect(page.getByTestId("ca-fingerprint")).toHaveText(/^[0-9a-f]{64}$/);
    await page.getByRole("button", { name: "Create join token" }).click();
    const token = (await page.getByTestId("created-join-token").textContent())!.trim();
    expect(token).toMatch(/^paj_/);
    await expect(page.locator("pre")).toContainText(`--join-token ${token} --controller-fingerprint`);

    const reg = await agentApi.post("/api/agent/v1/register", {
      data: { joinToken: token, agentUrl: "http://127.0.0.1:9", facts: facts(machineId) },
    });
    expect(reg.status(), await reg.text()).toBe(200);
    const { hostId, hostToken } = await reg.json();
    // Single-use: the second node with the same token is turned away with the reason.
    const again = await agentApi.post("/api/agent/v1/register", {
      data: { joinToken: token, agentUrl: "http://127.0.0.1:9", facts: facts(`${machineId}-b`) },
    });
    expect(again.status()).toBe(401);
    expect((await again.json()).error.message).toMatch(/already used/);

    await page.goto(`/hosts/${hostId}`);
    const panel = page.getByRole("region", { name: "Agent credentials" });
    await panel.getByRole("button", { name: "Rotate token" }).click();
    // The agent cannot be told (nothing listens): the old token is dead all the same.
    await expect(panel.getByRole("status")).toContainText("The old token is refused");
    expect(
      (
        await agentApi.post("/api/agent/v1/heartbeat", { data: hb, headers: { authorization: `Bearer ${hostToken}` } })
      ).status(),
    ).toBe(401);

    await panel.getByRole("button", { name: "Revoke" }).click();
    await expect(panel.getByTestId("host-revoked")).toBeVisible();
    await expect(page.getByTestId("host-status")).toContainText("offline");
    // Back only with a join token created after the revocation, not the bootstrap token.
    const back = await agentApi.post("/api/agent/v1/register", {
      data: { joinToken: BOOTSTRAP, agentUrl: "http://127.0.0.1:9", facts: facts(machineId) },
    });
    expect(back.status()).toBe(401);
    expect((await back.json()).error.message).toMatch(/revoked/);

    const admin = await pwRequest.newContext({ baseURL, storageState: storageStateFor("admin") });
    const audit = await (await admin.get(`/api/v1/audit?q=${encodeURIComponent("host.")}&pageSize=200`)).json();
    const mine = audit.items
      .filter((i: { targetId: string | null }) => i.targetId === hostId)
      .map((i: { action: string }) => i.action);
    expect(mine).toEqual(expect.arrayContaining(["host.register", "host.rotate-token", "host.revoke"]));
    await admin.dispose();

    // Viewers may not rotate or revoke (server-side permission host:manage).
    const viewer = await pwRequest.newContext({ baseURL, storageState: storageStateFor("viewer") });
    expect((await viewer.post(`/api/v1/hosts/${hostId}/revoke`)).status()).toBe(403);
    expect((await viewer.post(`/api/v1/hosts/${hostId}/rotate-token`)).status()).toBe(403);
    await viewer.dispose();
  } finally {
    await agentApi.dispose();
    await ctx.close();
  }
});
