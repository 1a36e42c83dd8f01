import { test, expect, request as pwRequest } from "@playwright/test";
import crypto from "node:crypto";
import { agentControllerUrl, baseURL } from "../playwright.config";
import { keyProofMessage } from "../lib/schemas/agent-api";
import { storageStateFor } from "./helpers";

// Join tokens, approval, token rotation and revocation from the console (docs/decisions/017-agent-tls.md,
// 025-host-identity-and-approval.md). The host is registered through the agent API on the agent TLS
// port by this test (no agent process: its URL is a closed port), runs nothing (no arches) and is
// revoked at the end, so no VM lands on it. Its name is not seed-… (lists.spec counts those) and it
// is offline once revoked (fleet specs count online hosts).
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
const AGENT_URL = "https://127.0.0.1:9";

/** A registration body as a real agent sends it: its own EC key and a proof of possession. */
function registration(joinToken: string, machineId: string) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
  const publicKeyPem = publicKey.export({ type: "spki", format: "pem" }).toString();
  const proof = crypto
    .sign("sha256", Buffer.from(keyProofMessage(machineId, AGENT_URL, publicKeyPem)), privateKey)
    .toString("base64");
  return { joinToken, agentUrl: AGENT_URL, facts: facts(machineId), tls: { publicKey: publicKeyPem, proof } };
}

test("an admin creates a join token, approves the pending host, rotates its token and revokes it", async ({
  browser,
}) => {
  const ctx = await browser.newContext({ storageState: storageStateFor("admin") });
  const page = await ctx.newPage();
  page.on("dialog", (d) => void d.accept());
  // The agent API answers only on the agent TLS port (the controller's certificate is from its own CA).
  const agentApi = await pwRequest.newContext({ baseURL: agentControllerUrl, ignoreHTTPSErrors: true });
  const consolePort = await pwRequest.newContext({ baseURL });
  const machineId = `tls-${Date.now().toString(36)}`;
  try {
    await page.goto("/hosts");
    await page.getByText("Add a node").click();
    await expect(page.getByTestId("ca-fingerprint")).toHaveText(/^[0-9a-f]{64}$/);
    // Before a token is created the command shows a placeholder; never a token on the agent's command line.
    await expect(page.locator("pre")).toContainText("'<join token>'");
    await page.getByTestId("join-token-arch").selectOption("x86_64");
    await page.getByRole("button", { name: "Create join token" }).click();
    const token = (await page.getByTestId("created-join-token").textContent())!.trim();
    expect(token).toMatch(/^paj_/);
    await expect(page.getByText("x86_64 only")).toBeVisible();
    await expect(page.locator("pre")).toContainText(`'${token}' > /var/lib/polyarch/join-token`);
    await expect(page.locator("pre")).toContainText(
      "--join-token-file /var/lib/polyarch/join-token --controller-fingerprint",
    );
    await expect(page.locator("pre")).not.toContainText(`--join-token ${token}`);

    // The console port does not serve the agent API.
    const plain = await consolePort.post("/api/agent/v1/register", { data: registration(token, machineId) });
    expect(plain.status()).toBe(404);
    expect((await plain.json()).error.message).toMatch(/only on the agent TLS port/);

    const reg = await agentApi.post("/api/agent/v1/register", { data: registration(token, machineId) });
    expect(reg.status(), await reg.text()).toBe(200);
    const { hostId, hostToken } = await reg.json();
    // Single-use: the second node with the same token is turned away with the reason.
    const again = await agentApi.post("/api/agent/v1/register", { data: registration(token, `${machineId}-b`) });
    expect(again.status()).toBe(401);
    expect((await again.json()).error.message).toMatch(/already used/);

    // The new host waits for approval: badge in the list, Approve in the pending panel.
    await page.goto("/hosts");
    const pendingRow = page.getByTestId(`pending-host-e2e-tls-${machineId}`);
    await expect(pendingRow).toContainText("pending approval");
    await expect(page.getByRole("row", { name: new RegExp(`e2e-tls-${machineId}`) })).toContainText("pending approval");
    const viewerApi = await pwRequest.newContext({ baseURL, storageState: storageStateFor("viewer") });
    expect((await viewerApi.post(`/api/v1/hosts/${hostId}/approve`)).status()).toBe(403);
    await viewerApi.dispose();
    await pendingRow.getByRole("button", { name: "Approve" }).click();
    await expect(pendingRow).toHaveCount(0);

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
    const back = await agentApi.post("/api/agent/v1/register", { data: registration(BOOTSTRAP, machineId) });
    expect(back.status()).toBe(401);
    expect((await back.json()).error.message).toMatch(/revoked/);

    const admin = await pwRequest.newContext({ baseURL, storageState: storageStateFor("admin") });
    const audit = await (await admin.get(`/api/v1/audit?q=${encodeURIComponent("host.")}&pageSize=200`)).json();
    const mine = audit.items
      .filter((i: { targetId: string | null }) => i.targetId === hostId)
      .map((i: { action: string }) => i.action);
    expect(mine).toEqual(expect.arrayContaining(["host.register", "host.approve", "host.rotate-token", "host.revoke"]));
    await admin.dispose();

    // Viewers may not rotate or revoke (server-side permission host:manage).
    const viewer = await pwRequest.newContext({ baseURL, storageState: storageStateFor("viewer") });
    expect((await viewer.post(`/api/v1/hosts/${hostId}/revoke`)).status()).toBe(403);
    expect((await viewer.post(`/api/v1/hosts/${hostId}/rotate-token`)).status()).toBe(403);
    await viewer.dispose();
  } finally {
    await agentApi.dispose();
    await consolePort.dispose();
    await ctx.close();
  }
});
