// Console tickets in the database on SQLite and PostgreSQL: single use under concurrency, expiry,
// claims that must match the row, purge; and two console proxies (two "controllers") sharing one
// database, so a ticket spent at one is refused at the other.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import type { TestDatabase } from "../../../prisma/test-db";
import { db } from "../platform";
import { PURGE_AFTER_MS, purgeConsoleTickets, recordConsoleTicket, spendConsoleTicket } from "./tickets";
import { WebSocket, WebSocketServer } from "ws";
import { signConsoleTicket, ticketHash } from "../../console-ticket";
import type { ConsoleKind } from "../../schemas/console";
import { createConsoleProxy } from "../../../server/console-proxy";

const SECRET = "test-secret-0123456789abcdef0123456789abcdef";

async function issue(
  over: Partial<{
    vmId: string;
    kind: ConsoleKind;
    write: boolean;
    userId: string;
    ttlMs: number;
    agentUrl: string;
  }> = {},
) {
  const { ttlMs, ...rest } = over;
  const claims = {
    vmId: "vm-1",
    userId: "u-1",
    write: true,
    kind: "serial" as ConsoleKind,
    agentUrl: "http://127.0.0.1:9",
    hostId: "h-1",
    gen: 0,
    ...rest,
  };
  const { ticket, claims: full } = signConsoleTicket(SECRET, claims, { ttlMs });
  await recordConsoleTicket(ticket, {
    userId: full.userId,
    vmId: full.vmId,
    kind: full.kind,
    write: full.write,
    expiresAt: new Date(full.exp),
  });
  return { ticket, claims: full };
}

describe.each(PROVIDERS)("console tickets on %s", (provider) => {
  let database: TestDatabase | undefined;
  beforeEach(async () => {
    database = await useFreshDatabase(provider);
  });
  afterEach(async () => {
    await releaseDatabase(database);
  });

  it("stores only the hash; 10 parallel spends of one ticket: exactly one wins", async () => {
    const { ticket, claims } = await issue();
    const row = await db().consoleTicket.findUniqueOrThrow({ where: { hash: ticketHash(ticket) } });
    expect(row).toMatchObject({ vmId: "vm-1", userId: "u-1", kind: "serial", write: true, usedAt: null });
    expect(JSON.stringify(row)).not.toContain(ticket.split(".")[1]); // no signature, no ticket
    const results = await Promise.all(Array.from({ length: 10 }, () => spendConsoleTicket(ticket, claims)));
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok)).toEqual(
      Array.from({ length: 9 }, () => ({ ok: false, status: 401, reason: "ticket already used" })),
    );
    expect((await db().consoleTicket.findUniqueOrThrow({ where: { hash: ticketHash(ticket) } })).usedAt).not.toBeNull();
  });

  it("refuses expired, unknown and mismatching tickets without spending them", async () => {
    const { ticket, claims } = await issue({ ttlMs: 1_000 });
    expect(await spendConsoleTicket(ticket, claims, new Date(claims.exp + 1))).toEqual({
      ok: false,
      status: 401,
      reason: "ticket expired",
    });
    expect(await spendConsoleTicket(ticket, claims, new Date(claims.exp))).toMatchObject({
      ok: false,
      reason: "ticket expired",
    }); // expiresAt > now, strictly

    const other = signConsoleTicket(SECRET, {
      vmId: "vm-1",
      userId: "u-1",
      write: true,
      agentUrl: "http://127.0.0.1:9",
      hostId: "h-1",
      gen: 0,
    });
    expect(await spendConsoleTicket(other.ticket, other.claims)).toEqual({
      ok: false,
      status: 401,
      reason: "unknown ticket",
    }); // signed, never recorded

    const vnc = await issue({ kind: "vnc", write: false });
    expect(await spendConsoleTicket(vnc.ticket, { ...vnc.claims, kind: "serial" })).toMatchObject({
      ok: false,
      status: 403,
    });
    expect(await spendConsoleTicket(vnc.ticket, { ...vnc.claims, vmId: "vm-2" })).toMatchObject({
      ok: false,
      status: 403,
    });
    expect(await spendConsoleTicket(vnc.ticket, { ...vnc.claims, write: true })).toMatchObject({
      ok: false,
      status: 401,
    });
    expect(await spendConsoleTicket(vnc.ticket, vnc.claims)).toEqual({ ok: true }); // none of the above spent it
  });

  it("purges tickets expired for longer than the grace period, keeps the rest", async () => {
    const old = await issue({ ttlMs: 1_000 });
    const fresh = await issue();
    expect(await purgeConsoleTickets(new Date(old.claims.exp + PURGE_AFTER_MS - 1))).toBe(0);
    expect(await purgeConsoleTickets(new Date(old.claims.exp + PURGE_AFTER_MS + 1))).toBe(1);
    expect(await db().consoleTicket.count()).toBe(1);
    expect(await spendConsoleTicket(fresh.ticket, fresh.claims)).toEqual({ ok: true });
  });

  it("two proxies on one database (two controllers): a ticket opens one console once, wherever it is used", async () => {
    // a stand-in agent: accepts the console upgrade and says hello
    const agent = http.createServer((_q, res) => res.writeHead(404).end());
    const agentWs = new WebSocketServer({ noServer: true });
    agent.on("upgrade", (req, socket, head) => agentWs.handleUpgrade(req, socket, head, (ws) => ws.send("hello")));
    await new Promise<void>((r) => agent.listen(0, "127.0.0.1", r));
    const agentUrl = `http://127.0.0.1:${(agent.address() as AddressInfo).port}`;
    const proxies = [0, 1].map(() =>
      createConsoleProxy({ getSecret: () => SECRET, spend: (t, c) => spendConsoleTicket(t, c) }),
    );
    const servers = proxies.map((p) => {
      const s = http.createServer((_q, res) => res.writeHead(404).end());
      s.on("upgrade", (req, socket, head) => p.handleUpgrade(req, socket, head));
      return s;
    });
    /** 101 when the console opened (and said hello), else the HTTP status the proxy refused it with */
    const open = (i: number, path: string) =>
      new Promise<number>((resolve, reject) => {
        const port = (servers[i]!.address() as AddressInfo).port;
        const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
        ws.once("message", (data) => {
          ws.terminate();
          if (String(data) === "hello") resolve(101);
          else reject(new Error(`unexpected first message ${String(data)}`));
        });
        ws.once("unexpected-response", (_req, res) => {
          res.resume();
          ws.terminate();
          resolve(res.statusCode ?? 0);
        });
        ws.on("error", reject);
      });
    try {
      for (const s of servers) await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
      const serial = await issue({ agentUrl });
      const url = `/api/v1/vms/vm-1/console?ticket=${encodeURIComponent(serial.ticket)}`;
      const both = await Promise.all([open(0, url), open(1, url)]);
      expect(both.sort()).toEqual([101, 401]);
      expect(await open(0, url)).toBe(401);

      const vnc = await issue({ agentUrl, kind: "vnc" });
      expect(await open(1, `/api/v1/vms/vm-1/console?ticket=${encodeURIComponent(vnc.ticket)}`)).toBe(403); // a VNC ticket is not a serial one
      expect(await open(1, `/api/v1/vms/vm-1/vnc?ticket=${encodeURIComponent(vnc.ticket)}`)).toBe(101);
      expect(await open(0, `/api/v1/vms/vm-1/vnc?ticket=${encodeURIComponent(vnc.ticket)}`)).toBe(401);
    } finally {
      for (const p of proxies) p.closeAll();
      for (const c of agentWs.clients) c.terminate();
      agentWs.close();
      for (const s of [...servers, agent]) {
        s.closeAllConnections();
        await new Promise((r) => s.close(r));
      }
    }
  });
});
