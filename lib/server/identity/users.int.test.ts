import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import type { TestDatabase } from "../../../prisma/test-db";
import { db } from "../platform";
import { createUser, resetPassword, setDisabled, setRole } from "./users";
import { createToken, revokeToken } from "./api-tokens";
import { currentActor, type Actor } from "./guard";
import { auth } from "./auth";
import { ensureFirstAdmin } from "./bootstrap";

async function signIn(email: string, password: string) {
  return auth().api.signInEmail({ body: { email, password }, asResponse: true });
}

describe.each(PROVIDERS)("users and tokens on %s", (provider) => {
  let database: TestDatabase | undefined;
  let admin: Actor;
  beforeEach(async () => {
    database = await useFreshDatabase(provider);
    const { id } = await createUser({ email: "root@t.test", name: "Root", role: "admin", password: "root-password" });
    admin = { id, email: "root@t.test", name: "Root", role: "admin", via: "session" };
  });
  afterEach(async () => {
    await releaseDatabase(database);
  });

  it("hashes passwords with better-auth and never stores them in clear", async () => {
    await createUser(
      { email: "op@t.test", name: "Op", role: "operator", password: "op-password-1" },
      { actor: admin, clientIp: null },
    );
    const account = await db().account.findFirstOrThrow({ where: { user: { email: "op@t.test" } } });
    expect(account.password).toBeTruthy();
    expect(account.password).not.toContain("op-password-1");
    expect((await signIn("op@t.test", "op-password-1")).status).toBe(200);
    expect((await signIn("op@t.test", "wrong-password")).status).toBe(401);
  });

  it("refuses a duplicate email with a conflict", async () => {
    await expect(
      createUser({ email: "root@t.test", name: "Again", role: "viewer", password: "whatever-1" }),
    ).rejects.toMatchObject({ code: "conflict" });
  });

  it("disabling a user ends their sessions and their sign-in; the last admin is protected", async () => {
    const { id } = await createUser({ email: "v@t.test", name: "V", role: "viewer", password: "viewer-pass-1" });
    const res = await signIn("v@t.test", "viewer-pass-1");
    const cookie = res.headers.get("set-cookie")!.split(";")[0]!;
    expect((await currentActor(new Headers({ cookie })))?.email).toBe("v@t.test");
    await setDisabled(id, true, { actor: admin, clientIp: null });
    expect(await currentActor(new Headers({ cookie }))).toBeNull();
    expect((await signIn("v@t.test", "viewer-pass-1")).status).not.toBe(200);
    await expect(
      setDisabled(admin.id, true, { actor: { ...admin, id: "someone-else" }, clientIp: null }),
    ).rejects.toMatchObject({ code: "conflict" });
    await expect(setRole(admin.id, "viewer", { actor: admin, clientIp: null })).rejects.toMatchObject({
      code: "conflict",
    });
    const audit = await db().auditEvent.findMany({ where: { action: "user.disable" } });
    expect(audit).toHaveLength(1);
  });

  it("a reset password replaces the old one", async () => {
    const { id } = await createUser({ email: "r@t.test", name: "R", role: "viewer", password: "old-password-1" });
    await resetPassword(id, "new-password-2", { actor: admin, clientIp: null });
    expect((await signIn("r@t.test", "old-password-1")).status).toBe(401);
    expect((await signIn("r@t.test", "new-password-2")).status).toBe(200);
  });

  it("API tokens authenticate as their user until revoked; only the owner can revoke", async () => {
    const { id, token } = await createToken(admin, "ci", 0, null);
    const row = await db().apiToken.findUniqueOrThrow({ where: { id } });
    expect(row.tokenHash).not.toBe(token);
    expect((await currentActor(new Headers({ authorization: `Bearer ${token}` })))?.role).toBe("admin");
    const other: Actor = { ...admin, id: "other-user" };
    await expect(revokeToken(other, id, null)).rejects.toMatchObject({ code: "not_found" });
    await revokeToken(admin, id, null);
    expect(await currentActor(new Headers({ authorization: `Bearer ${token}` }))).toBeNull();
  });

  it("creates the first admin once, with a generated password when none is configured", async () => {
    await db().user.deleteMany({});
    delete process.env.POLYARCH_ADMIN_PASSWORD;
    await ensureFirstAdmin();
    await ensureFirstAdmin();
    expect(await db().user.count({ where: { role: "admin" } })).toBe(1);
  });
});
