// The rule that ends open consoles (ADR 029), without a database: the cases the integration test
// (revoke.int.test.ts) does not reach — expired bans, expired or foreign sessions, cookie forms.
import { describe, expect, it } from "vitest";
import { consoleRefusal, sessionTokenOf } from "./revocation";

const now = new Date("2026-12-05T12:00:00Z");
const later = new Date(now.getTime() + 60_000);
const earlier = new Date(now.getTime() - 60_000);
const member = (role: string, over: Partial<{ banned: boolean | null; banExpires: Date | null }> = {}) => ({
  role,
  banned: false,
  banExpires: null,
  memberOf: new Set(["p1"]),
  ...over,
});
const noSession = { token: null, row: undefined };
const vm = { projectId: "p1" };

describe("consoleRefusal", () => {
  it("allows what a ticket would be issued for", () => {
    expect(consoleRefusal({ write: true, userId: "u" }, member("operator"), vm, noSession, now)).toBeNull();
    expect(consoleRefusal({ write: false, userId: "u" }, member("viewer"), vm, noSession, now)).toBeNull();
    expect(
      consoleRefusal({ write: true, userId: "u" }, member("admin"), { projectId: "other" }, noSession, now),
    ).toBeNull();
    // a VM without a project counts as the default project's
    expect(
      consoleRefusal(
        { write: false, userId: "u" },
        { ...member("viewer"), memberOf: new Set(["default"]) },
        { projectId: null },
        noSession,
        now,
      ),
    ).toBeNull();
  });

  it("follows better-auth on bans: an expired ban no longer counts, an open-ended or future one does", () => {
    const g = { write: false, userId: "u" };
    expect(consoleRefusal(g, member("viewer", { banned: true }), vm, noSession, now)).toMatch(/disabled/);
    expect(consoleRefusal(g, member("viewer", { banned: true, banExpires: later }), vm, noSession, now)).toMatch(
      /disabled/,
    );
    expect(consoleRefusal(g, member("viewer", { banned: true, banExpires: earlier }), vm, noSession, now)).toBeNull();
  });

  it("ends a browser console with its session: gone, expired or someone else's", () => {
    const g = { write: false, userId: "u" };
    const ok = { token: "t", row: { userId: "u", expiresAt: later } };
    expect(consoleRefusal(g, member("viewer"), vm, ok, now)).toBeNull();
    expect(consoleRefusal(g, member("viewer"), vm, { token: "t", row: undefined }, now)).toMatch(/session ended/);
    expect(consoleRefusal(g, member("viewer"), vm, { token: "t", row: { userId: "u", expiresAt: now } }, now)).toMatch(
      /session ended/,
    );
    expect(
      consoleRefusal(g, member("viewer"), vm, { token: "t", row: { userId: "x", expiresAt: later } }, now),
    ).toMatch(/session ended/);
  });

  it("gives the reason a person can act on: deleted user, deleted VM, other project, demotion", () => {
    const g = { write: true, userId: "u" };
    expect(consoleRefusal(g, undefined, vm, noSession, now)).toBe("access revoked: the account no longer exists");
    expect(consoleRefusal(g, member("operator"), undefined, noSession, now)).toBe("access revoked: the VM was deleted");
    expect(consoleRefusal(g, member("operator"), { projectId: "p2" }, noSession, now)).toMatch(/no longer a member/);
    expect(consoleRefusal(g, member("viewer"), vm, noSession, now)).toMatch(/no longer allows typing/);
    expect(consoleRefusal(g, member("nobody"), vm, noSession, now)).toMatch(/no longer a member/); // unknown role: nothing
  });
});

describe("sessionTokenOf", () => {
  it("reads better-auth's session cookie (plain or __Secure-, signature URL-encoded) and nothing else", () => {
    expect(sessionTokenOf(null)).toBeNull();
    expect(sessionTokenOf("other=1")).toBeNull();
    expect(sessionTokenOf("a=1; better-auth.session_token=abc123.c2ln%3D; b=2")).toBe("abc123");
    expect(sessionTokenOf("__Secure-better-auth.session_token=xyz.sig")).toBe("xyz");
  });
});
