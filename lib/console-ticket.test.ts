import { describe, expect, it } from "vitest";
import { NonceStore, signConsoleTicket, ticketHash, TICKET_TTL_MS, verifyConsoleTicket } from "./console-ticket";
import { deriveHostToken } from "./host-token";

const SECRET = "test-secret-0123456789abcdef0123456789";
const base = { vmId: "vm-1", userId: "u-1", write: true, agentUrl: "http://127.0.0.1:7000", hostId: "h-1", gen: 2 };

describe("console tickets", () => {
  it("a fresh ticket verifies once and carries its claims", () => {
    const nonces = new NonceStore();
    const { ticket } = signConsoleTicket(SECRET, base);
    const v = verifyConsoleTicket(SECRET, ticket, { vmId: "vm-1", nonces });
    expect(v).toMatchObject({ ok: true, claims: { ...base, v: 1 } });
    // reused
    expect(verifyConsoleTicket(SECRET, ticket, { vmId: "vm-1", nonces })).toEqual({
      ok: false,
      status: 401,
      reason: "ticket already used",
    });
  });

  it("refuses a stale ticket", () => {
    const now = Date.now();
    const { ticket } = signConsoleTicket(SECRET, base, { now: now - TICKET_TTL_MS - 1 });
    expect(verifyConsoleTicket(SECRET, ticket, { vmId: "vm-1", nonces: new NonceStore(), now })).toMatchObject({
      ok: false,
      status: 401,
      reason: "ticket expired",
    });
  });

  it("refuses a ticket for another VM (403) without spending it", () => {
    const nonces = new NonceStore();
    const { ticket } = signConsoleTicket(SECRET, base);
    expect(verifyConsoleTicket(SECRET, ticket, { vmId: "vm-2", nonces })).toMatchObject({ ok: false, status: 403 });
    expect(nonces.size).toBe(0);
  });

  it("refuses forged tickets: other secret, edited claims, garbage", () => {
    const nonces = new NonceStore();
    const other = signConsoleTicket("another-secret-0123456789abcdef0123", base).ticket;
    expect(verifyConsoleTicket(SECRET, other, { vmId: "vm-1", nonces })).toMatchObject({
      ok: false,
      status: 401,
      reason: "invalid ticket signature",
    });
    const [body, sig] = signConsoleTicket(SECRET, { ...base, write: false }).ticket.split(".");
    const claims = JSON.parse(Buffer.from(body!, "base64url").toString());
    const edited = Buffer.from(JSON.stringify({ ...claims, write: true })).toString("base64url");
    expect(verifyConsoleTicket(SECRET, `${edited}.${sig}`, { vmId: "vm-1", nonces })).toMatchObject({
      ok: false,
      status: 401,
    });
    for (const junk of ["", "abc", "a.b.c", `${body}.`, ".x", 42, null, "x".repeat(5000)]) {
      expect(verifyConsoleTicket(SECRET, junk, { vmId: "vm-1", nonces })).toMatchObject({ ok: false, status: 401 });
    }
    expect(nonces.size).toBe(0);
  });

  it("forgets spent nonces once their tickets have expired", () => {
    const nonces = new NonceStore();
    const now = Date.now();
    expect(nonces.spend("n1", now + 10, now)).toBe(true);
    expect(nonces.spend("n1", now + 10, now)).toBe(false);
    expect(nonces.spend("n2", now + 100, now + 50)).toBe(true);
    expect(nonces.size).toBe(1);
  });

  it("binds a ticket to its console kind; without a nonce store nothing is spent here (the database does it)", () => {
    const vnc = signConsoleTicket(SECRET, { ...base, kind: "vnc" });
    expect(vnc.claims.kind).toBe("vnc");
    expect(verifyConsoleTicket(SECRET, vnc.ticket, { vmId: "vm-1", kind: "serial" })).toMatchObject({
      ok: false,
      status: 403,
    });
    expect(verifyConsoleTicket(SECRET, vnc.ticket, { vmId: "vm-1", kind: "vnc" })).toMatchObject({ ok: true });
    expect(verifyConsoleTicket(SECRET, vnc.ticket, { vmId: "vm-1", kind: "vnc" })).toMatchObject({ ok: true }); // caller spends
    // a ticket signed before kinds existed is a serial one
    expect(signConsoleTicket(SECRET, base).claims.kind).toBe("serial");
    expect(ticketHash(vnc.ticket)).toMatch(/^[0-9a-f]{64}$/);
    expect(ticketHash(vnc.ticket)).not.toBe(ticketHash(signConsoleTicket(SECRET, { ...base, kind: "vnc" }).ticket));
  });

  it("refuses claims the signer would not produce (zod at the boundary)", () => {
    expect(() => signConsoleTicket(SECRET, { ...base, agentUrl: "file:///etc/passwd" })).toThrow();
    expect(() => signConsoleTicket(SECRET, { ...base, vmId: "" })).toThrow();
  });
});

describe("host tokens", () => {
  it("keep their derivation: agents registered before hold tokens whose hashes the database stores", () => {
    expect(deriveHostToken(SECRET, "h-1", 3)).toBe("pah_EEDQbcKx9tLnANsb3NT_945VoMmQDIRnQgO3NKLL3Kg");
    expect(deriveHostToken(SECRET, "h-1", 4)).not.toBe(deriveHostToken(SECRET, "h-1", 3));
    expect(deriveHostToken(SECRET, "h-2", 3)).not.toBe(deriveHostToken(SECRET, "h-1", 3));
  });
});
