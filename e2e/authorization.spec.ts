import { test, expect, request as pwRequest } from "@playwright/test";
import { readFileSync } from "node:fs";
import { baseURL } from "../playwright.config";
import { USERS, storageStateFor } from "./helpers";

/** Server-action ids come from the built app's manifest: exactly what an attacker could read from the page JS. */
function actionId(name: string): string {
  const manifest = JSON.parse(readFileSync(".next/server/server-reference-manifest.json", "utf8"));
  const entry = Object.entries(manifest.node as Record<string, { exportedName?: string }>).find(
    ([, v]) => v.exportedName === name,
  );
  if (!entry) throw new Error(`server action ${name} not in the manifest`);
  return entry[0];
}

async function postAction(
  ctx: Awaited<ReturnType<typeof pwRequest.newContext>>,
  page: string,
  name: string,
  args: unknown[],
) {
  return ctx.post(page, {
    headers: { "Next-Action": actionId(name), "content-type": "text/plain;charset=UTF-8", accept: "text/x-component" },
    data: JSON.stringify(args),
  });
}

test("a viewer's direct POSTs to mutating server actions and API routes get 403, change nothing, and are audited", async () => {
  const viewer = await pwRequest.newContext({ baseURL, storageState: storageStateFor("viewer") });
  const admin = await pwRequest.newContext({ baseURL, storageState: storageStateFor("admin") });
  const usersBefore = (await (await admin.get("/api/v1/users")).json()).total;

  const a = await postAction(viewer, "/users", "createUserAction", [
    { email: "sneaky@e2e.test", name: "Sneaky", role: "admin", password: "sneaky-pass-1" },
  ]);
  expect(a.status()).toBe(403);
  const b = await postAction(viewer, "/users", "setRoleAction", [{ id: "anything", role: "admin" }]);
  expect(b.status()).toBe(403);
  const c = await postAction(viewer, "/hosts", "rotateJoinTokenAction", [{}]);
  expect(c.status()).toBe(403);

  const d = await viewer.post("/api/v1/users", {
    data: { email: "sneaky2@e2e.test", name: "S", role: "admin", password: "sneaky-pass-1" },
  });
  expect(d.status()).toBe(403);
  expect((await d.json()).error.code).toBe("forbidden");
  const e = await viewer.patch("/api/v1/hosts/some-host", { data: { adminState: "disabled" } });
  expect(e.status()).toBe(403);

  // Nothing changed.
  const after = await (await admin.get("/api/v1/users")).json();
  expect(after.total).toBe(usersBefore);
  expect(after.items.map((u: { email: string }) => u.email)).not.toContain("sneaky@e2e.test");

  // Every attempt is in the audit log as denied, with the viewer as actor.
  const audit = await (
    await admin.get(`/api/v1/audit?status=denied&q=${encodeURIComponent(USERS.viewer.email)}&pageSize=100`)
  ).json();
  const actions = audit.items.map((i: { action: string }) => i.action);
  expect(actions).toEqual(
    expect.arrayContaining(["user.create", "user.set-role", "cluster.rotate-join-token", "host.update"]),
  );
  await viewer.dispose();
  await admin.dispose();
});

test("an operator may not manage users or hosts either", async () => {
  const operator = await pwRequest.newContext({ baseURL, storageState: storageStateFor("operator") });
  expect(
    (
      await postAction(operator, "/users", "createUserAction", [
        { email: "op-made@e2e.test", name: "X", role: "admin", password: "sneaky-pass-1" },
      ])
    ).status(),
  ).toBe(403);
  expect((await operator.get("/api/v1/audit")).status()).toBe(403);
  expect((await operator.get("/api/v1/hosts")).status()).toBe(200);
  await operator.dispose();
});

test("a signed-out POST to a server action gets 401", async () => {
  const anon = await pwRequest.newContext({ baseURL });
  expect(
    (
      await postAction(anon, "/users", "createUserAction", [
        { email: "anon@e2e.test", name: "A", role: "admin", password: "anon-pass-12" },
      ])
    ).status(),
  ).toBe(401);
  expect((await anon.post("/api/v1/users", { data: {} })).status()).toBe(401);
  await anon.dispose();
});

test("only admins manage instance types: an operator's and a viewer's POST, PATCH and DELETE get 403 and change nothing", async () => {
  const admin = await pwRequest.newContext({ baseURL, storageState: storageStateFor("admin") });
  const name = `authz-${Date.now().toString(36)}`;
  const made = await admin.post("/api/v1/instance-types", { data: { name, vcpus: 1, memoryMb: 256, diskGb: 1 } });
  expect(made.status(), await made.text()).toBe(201);
  const { id } = (await made.json()) as { id: string };
  try {
    for (const role of ["operator", "viewer"] as const) {
      const ctx = await pwRequest.newContext({ baseURL, storageState: storageStateFor(role) });
      // Everyone signed in may list them (the wizard offers them).
      expect((await ctx.get("/api/v1/instance-types")).status()).toBe(200);
      const answers = [
        await ctx.post("/api/v1/instance-types", {
          data: { name: `${name}-${role}`, vcpus: 1, memoryMb: 256, diskGb: 1 },
        }),
        await ctx.patch(`/api/v1/instance-types/${id}`, { data: { vcpus: 64 } }),
        await ctx.delete(`/api/v1/instance-types/${id}`),
      ];
      for (const a of answers) {
        expect(a.status(), `${role} ${a.url()}`).toBe(403);
        expect((await a.json()).error.code).toBe("forbidden");
      }
      await ctx.dispose();
    }
    const after = (await (await admin.get(`/api/v1/instance-types/${id}`)).json()) as { vcpus: number };
    expect(after.vcpus).toBe(1);
    const list = (await (await admin.get("/api/v1/instance-types")).json()) as { items: { name: string }[] };
    expect(list.items.map((t) => t.name).filter((n) => n.startsWith(`${name}-`))).toEqual([]);
  } finally {
    await admin.delete(`/api/v1/instance-types/${id}`);
    await admin.dispose();
  }
});
