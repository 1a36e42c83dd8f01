// SSH keys on real databases: validation, ssh-keygen-compatible fingerprints, duplicates,
// per-user scoping, audit records, and the cloud-init data handed to the agent.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { TestDatabase } from "../../../prisma/test-db";
import { vmSpecSchema } from "../../schemas/agent-api";
import { addSshKeySchema, parseSshPublicKey, userDataSchema } from "../../schemas/ssh-keys";
import { db } from "../platform";
import type { Actor } from "./guard";
import { addSshKey, cloudInitFor, deleteSshKey, listSshKeys, sshFingerprint } from "./ssh-keys";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";

const alice: Actor = { id: "u-alice", email: "alice@t.test", name: "Alice", role: "operator", via: "session" };
const bob: Actor = { id: "u-bob", email: "bob@t.test", name: "Bob", role: "viewer", via: "session" };

// Real keys from ssh-keygen when it exists (fingerprints are compared with its own output).
const hasKeygen = ["/usr/bin/ssh-keygen", "/bin/ssh-keygen"].some((p) => existsSync(p));
let keyDir = "";
const keys: Array<{ type: string; line: string; fingerprint: string }> = [];
beforeAll(() => {
  if (!hasKeygen) return;
  keyDir = mkdtempSync(join(tmpdir(), "pa-keys-"));
  for (const [type, bits] of [
    ["ed25519", []],
    ["rsa", ["-b", "2048"]],
    ["ecdsa", ["-b", "256"]],
  ] as const) {
    const file = join(keyDir, `id_${type}`);
    execFileSync("ssh-keygen", ["-q", "-t", type, ...bits, "-N", "", "-C", `${type}@test`, "-f", file]);
    const line = readFileSync(`${file}.pub`, "utf8").trim();
    const fingerprint = execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", `${file}.pub`], {
      encoding: "utf8",
    }).split(" ")[1]!;
    keys.push({ type, line, fingerprint });
  }
});
afterAll(() => {
  if (keyDir) rmSync(keyDir, { recursive: true, force: true });
});

// A fixed ed25519 key (with its ssh-keygen fingerprint) so the tests run without ssh-keygen too.
const FIXED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMKeTQpCtVhN5fjyJaiihqEQaImcvO4c4EM8plT1Iwlg fixed@test";
const FIXED_FP = "SHA256:5a/u2U0+oO0aM8M4acEnBBaM1HxKnEfno+PQuaWcR0Y";
const OTHER = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHQlYVYOC/rCrRn3xKXtmsGbPHeFcT4Y+boPJUGX7I94 second";

describe("SSH public key parsing", () => {
  it("accepts OpenSSH lines and normalises whitespace; refuses junk with a clear message", () => {
    expect(addSshKeySchema.parse({ publicKey: `  ${FIXED.replace(" ", "   ")}\n` }).publicKey).toBe(FIXED);
    const bad: Array<[string, RegExp]> = [
      ["hello", /looks like/],
      ["ssh-foo AAAA", /Unsupported key type/],
      ["-----BEGIN OPENSSH PRIVATE KEY----- b3Blbn", /private key/],
      ["ssh-ed25519 not*base64", /malformed/],
      ["ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIMKeTQpCtVhN5fjyJaiihqEQaImcvO4c4EM8plT1Iwlg", /not a valid ssh-rsa key/],
      [`${FIXED}\nssh-ed25519 AAAA`, /single line/],
    ];
    for (const [line, re] of bad) {
      const r = addSshKeySchema.safeParse({ publicKey: line });
      expect(r.success, line).toBe(false);
      expect(r.error?.issues[0]?.message, line).toMatch(re);
    }
    expect(parseSshPublicKey(FIXED)).toMatchObject({ ok: true, key: { type: "ssh-ed25519", comment: "fixed@test" } });
  });

  it("fingerprint of a known key matches ssh-keygen's", () => {
    expect(sshFingerprint(FIXED)).toBe(FIXED_FP);
  });

  it.skipIf(!hasKeygen)("fingerprints match `ssh-keygen -l -E sha256` for ed25519, rsa and ecdsa", () => {
    expect(keys).toHaveLength(3);
    for (const k of keys) expect(sshFingerprint(k.line), k.type).toBe(k.fingerprint);
  });

  it("user-data must be #cloud-config or a script; empty means none", () => {
    expect(userDataSchema.parse("#cloud-config\npackages: [htop]\n")).toMatch(/^#cloud-config/);
    expect(userDataSchema.parse("#!/bin/sh\necho hi")).toMatch(/^#!/);
    expect(userDataSchema.parse("  ")).toBeUndefined();
    expect(userDataSchema.parse(undefined)).toBeUndefined();
    expect(userDataSchema.safeParse("packages: [htop]").error?.issues[0]?.message).toMatch(/#cloud-config/);
  });
});

describe.each(PROVIDERS)("SSH keys and cloud-init data on %s", (provider) => {
  let database: TestDatabase | undefined;
  beforeEach(async () => {
    database = await useFreshDatabase(provider);
    for (const a of [alice, bob])
      await db().user.create({ data: { id: a.id, email: a.email, name: a.name, role: a.role } });
  });
  afterEach(async () => {
    await releaseDatabase(database);
  });

  it("adds, lists, refuses duplicates, deletes only own keys; every change is audited", async () => {
    const line = keys[0]?.line ?? FIXED;
    const added = await addSshKey(alice, addSshKeySchema.parse({ name: "", publicKey: line }), "10.0.0.1");
    expect(added.name).toBe(line.split(" ")[2]); // the comment names the key by default
    expect(added.fingerprint).toBe(keys[0]?.fingerprint ?? sshFingerprint(FIXED));

    // Same key again (even with another comment): a clear conflict naming the existing key.
    const again = addSshKey(
      alice,
      addSshKeySchema.parse({ name: "dup", publicKey: line.split(" ").slice(0, 2).join(" ") + " other" }),
      null,
    );
    await expect(again).rejects.toMatchObject({
      code: "conflict",
      message: expect.stringContaining(`already on your account as "${added.name}"`),
    });
    // Concurrent adds of one new key: exactly one wins.
    const second = keys[1]?.line ?? OTHER;
    const race = await Promise.allSettled(
      [1, 2, 3].map(() => addSshKey(alice, addSshKeySchema.parse({ publicKey: second }), null)),
    );
    expect(race.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    for (const r of race) if (r.status === "rejected") expect(r.reason).toMatchObject({ code: "conflict" });
    // The same key may be on another user's account.
    await addSshKey(bob, addSshKeySchema.parse({ name: "bob's", publicKey: line }), null);

    const list = await listSshKeys(alice.id);
    expect(list.map((k) => k.fingerprint)).toEqual([added.fingerprint, sshFingerprint(second)]);
    expect(list[0]).not.toHaveProperty("publicKey");

    await expect(deleteSshKey(bob, added.id, null)).rejects.toMatchObject({ code: "not_found" });
    await deleteSshKey(alice, added.id, null);
    expect(await listSshKeys(alice.id)).toHaveLength(1);
    expect(await listSshKeys(bob.id)).toHaveLength(1);

    const audit = await db().auditEvent.findMany({
      where: { action: { startsWith: "ssh-key." } },
      orderBy: { createdAt: "asc" },
    });
    expect(audit.filter((a) => a.action === "ssh-key.create" && a.result === "success")).toHaveLength(3);
    expect(audit.filter((a) => a.action === "ssh-key.create" && a.result === "error").length).toBeGreaterThanOrEqual(1);
    expect(audit.find((a) => a.action === "ssh-key.delete")).toMatchObject({
      userId: alice.id,
      targetId: added.id,
      result: "success",
    });
  });

  it("cloudInitFor: hostname from the VM name, the owner's keys (oldest first), the VM's user-data; a valid agent spec", async () => {
    await addSshKey(alice, addSshKeySchema.parse({ publicKey: FIXED }), null);
    if (keys[1]) await addSshKey(alice, addSshKeySchema.parse({ publicKey: keys[1].line }), null);
    await addSshKey(bob, addSshKeySchema.parse({ publicKey: keys[2]?.line ?? OTHER }), null);

    const ci = await cloudInitFor({ name: "web-1", hostname: null, ownerId: alice.id, userData: null });
    expect(ci).toEqual({
      hostname: "web-1",
      sshKeys: [FIXED, ...(keys[1] ? [keys[1].line] : [])],
      userData: undefined,
    });
    const withUd = await cloudInitFor({ name: "db-", hostname: null, ownerId: null, userData: "#cloud-config\n" });
    expect(withUd).toEqual({ hostname: "db", sshKeys: [], userData: "#cloud-config\n" });
    // What specFor will send passes the agent contract.
    const spec = vmSpecSchema.safeParse({
      name: "web-1",
      arch: "x86_64",
      vcpus: 1,
      memoryMb: 256,
      diskGb: 1,
      boot: { type: "kernel", imageId: "i1", cmdline: "" },
      cloudInit: ci,
    });
    expect(spec.success).toBe(true);
  });
});
