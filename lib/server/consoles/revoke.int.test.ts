// Open consoles end when their authorisation does (ADR 029), end to end: a real kernel-boot guest
// (TCG) behind the agent's console endpoint, the controller's console proxy with the database ticket
// store and the batched re-check (revokedConsoles), tickets issued by issueConsoleTicket, and the
// changes made by the same domain calls the users and projects pages use. Every console here is
// open at the same time, so the ones that must stay open are the positive control of the same period.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import http from "node:http";
import { WebSocket } from "ws";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import type { TestDatabase } from "../../../prisma/test-db";
import { deriveHostToken } from "../../host-token";
import type { Role } from "../../permissions";
import { db, type Actor } from "../platform";
import { setDisabled, setRole } from "../identity";
import { addUserToProjects, createProject, removeProjectMember } from "../projects";
import { guestSkipReason, GuestConsoleRig, kernelFixture } from "../../../agent/src/testing/console-rig";
import { CONSOLE_REVOKED_CLOSE_CODE as REVOKED_CLOSE_CODE } from "../../console-close";
import { listenOnLoopback } from "../../../agent/src/testing/support";
import { createConsoleProxy } from "../../../server/console-proxy";
import { registerServerHooks } from "../../server-hooks";
import { DEFAULT_PROJECT_ID } from "../../schemas/projects";
import { issueConsoleTicket, revokedConsoles, spendConsoleTicket } from ".";

// what useFreshDatabase sets as BETTER_AUTH_SECRET, so env().secret signs what the rig's proxy checks
const SECRET = "test-secret-0123456789abcdef0123456789abcdef";
const HOST_ID = "h-revoke";
const VM_ID = "vm-revoke";
const RECHECK_MS = 300;
/** generous: the promise is 5 s with the default 2 s re-check; here the re-check runs every 300 ms */
const CLOSE_WITHIN_MS = 5_000;

const fixture = kernelFixture("x86_64");
const skip = guestSkipReason("x86_64", fixture);

type Console = { ws: WebSocket; closed: Promise<{ code: number; reason: string; atMs: number }> };

describe.skipIf(Boolean(skip))(`open consoles lose their authorisation${skip ? ` (skipped: ${skip})` : ""}`, () => {
  const rig = new GuestConsoleRig({
    arch: "x86_64",
    id: VM_ID,
    fixture: fixture!,
    tmpPrefix: "pa-revoke-",
    secret: SECRET,
    token: deriveHostToken(SECRET, HOST_ID, 0),
    proxy: {
      spend: (ticket, claims) => spendConsoleTicket(ticket, claims),
      authorise: (consoles) => revokedConsoles(consoles),
      recheckEveryMs: RECHECK_MS,
    },
  });
  const sockets: WebSocket[] = [];

  beforeAll(async () => {
    await rig.start();
    const res = await rig.boot({ name: "revoke" });
    expect(res.status.powerState).toBe("running");
  }, 180_000);
  afterAll(async () => {
    for (const ws of sockets) ws.terminate();
    await rig.stop([]);
  });

  describe.each(PROVIDERS)("on %s", (provider) => {
    let database: TestDatabase | undefined;
    beforeAll(async () => {
      database = await useFreshDatabase(provider);
      await db().host.create({
        data: {
          id: HOST_ID,
          name: "revoke-host",
          arch: "x86_64",
          cpuCount: 4,
          memoryMb: 8192,
          diskGb: 100,
          status: "online",
          nativeArches: '["x86_64"]',
          emulatedArches: "[]",
          agentUrl: rig.agentUrl,
        },
      });
    });
    afterAll(async () => {
      for (const ws of sockets.splice(0)) ws.terminate();
      await releaseDatabase(database);
    });

    async function user(name: string, role: Role, projectIds: string[]): Promise<Actor & { cookie: string }> {
      const email = `${name}@t.test`;
      const u = await db().user.create({ data: { id: `u-${name}`, email, name, role } });
      await addUserToProjects(u.id, projectIds);
      // a browser console carries its session cookie (`<token>.<signature>`; only the token is looked up)
      const token = `tok-${name}-0123456789abcdef`;
      await db().session.create({
        data: { id: `s-${name}`, token, userId: u.id, expiresAt: new Date(Date.now() + 3_600_000) },
      });
      return { id: u.id, email, name, role, via: "session", cookie: `better-auth.session_token=${token}.c2lnbmF0dXJl` };
    }

    async function open(actor: Actor & { cookie: string }, write: boolean, proxyUrl = rig.proxyUrl): Promise<Console> {
      const ticket = await issueConsoleTicket(VM_ID, actor, write, null, "serial");
      expect(ticket.write).toBe(write);
      const ws = new WebSocket(`${proxyUrl}${ticket.url}`, { headers: { cookie: actor.cookie } });
      sockets.push(ws);
      const closed = new Promise<{ code: number; reason: string; atMs: number }>((resolve) =>
        ws.once("close", (code, reason) => resolve({ code, reason: reason.toString("utf8"), atMs: Date.now() })),
      );
      await new Promise<void>((resolve, reject) => {
        ws.once("open", () => resolve());
        ws.once("error", reject);
      });
      return { ws, closed };
    }

    /** The close (code, reason) of `c`, which must come within CLOSE_WITHIN_MS of `since`. */
    async function closedWithin(c: Console, since: number): Promise<{ code: number; reason: string }> {
      const timeout = new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error("still open")), since + CLOSE_WITHIN_MS + 500 - Date.now()).unref(),
      );
      const { code, reason, atMs } = await Promise.race([c.closed, timeout]);
      expect(atMs - since).toBeLessThan(CLOSE_WITHIN_MS);
      return { code, reason };
    }
    const revoked = (why: string) => ({ code: REVOKED_CLOSE_CODE, reason: `access revoked: ${why}` });

    it("closes on disable, project removal, demotion, revoked session, VM move and VM deletion; the rest stay open", async () => {
      const admin = await user("admin", "admin", []);
      const who = { actor: admin, clientIp: null };
      const project = (await createProject({ name: "alpha", description: null }, who)).id;
      const other = (await createProject({ name: "beta", description: null }, who)).id;
      await db().vm.create({
        data: {
          id: VM_ID,
          name: "revoke",
          arch: "x86_64",
          vcpus: 1,
          memoryMb: 256,
          diskGb: 1,
          hostId: HOST_ID,
          projectId: project,
        },
      });

      const disabled = await open(await user("disabled", "operator", [project]), true);
      const removedUser = await user("removed", "operator", [project]);
      const removed = await open(removedUser, true);
      const demotedUser = await user("demoted", "operator", [project]);
      const demoted = await open(demotedUser, true);
      const signedOutUser = await user("signedout", "operator", [project]);
      const signedOut = await open(signedOutUser, true);
      const viewerUser = await user("viewer", "viewer", [project]);
      const viewer = await open(viewerUser, false);
      const control = await open(await user("control", "operator", [project]), true);
      const adminConsole = await open(admin, true);
      expect(rig.proxy.open).toBe(7);

      let since = Date.now();
      await setDisabled("u-disabled", true, who);
      await removeProjectMember(project, { userId: removedUser.id }, who);
      await setRole(demotedUser.id, "viewer", who);
      await db().session.deleteMany({ where: { userId: signedOutUser.id } });
      expect(await closedWithin(disabled, since)).toEqual(revoked("your account was disabled"));
      expect(await closedWithin(removed, since)).toEqual(revoked("you are no longer a member of this VM's project"));
      expect(await closedWithin(demoted, since)).toEqual(
        revoked("your role no longer allows typing in the console; reconnect to watch read-only"),
      );
      expect(await closedWithin(signedOut, since)).toEqual(revoked("your session ended (signed out or revoked)"));
      // The positive control over the same period and a few more re-checks: still authorised, still open.
      await new Promise((r) => setTimeout(r, 4 * RECHECK_MS));
      for (const c of [viewer, control, adminConsole]) expect(c.ws.readyState).toBe(WebSocket.OPEN);
      expect(rig.proxy.open).toBe(3);
      // A demoted user reconnects and watches read-only.
      const demotedAgain = await open({ ...demotedUser, role: "viewer" }, false);

      // The VM moves to a project they are not members of: only the admin's console survives.
      since = Date.now();
      await db().vm.update({ where: { id: VM_ID }, data: { projectId: other } });
      for (const c of [viewer, control, demotedAgain])
        expect(await closedWithin(c, since)).toEqual(revoked("you are no longer a member of this VM's project"));
      expect(adminConsole.ws.readyState).toBe(WebSocket.OPEN);

      since = Date.now();
      await db().vm.delete({ where: { id: VM_ID } });
      expect(await closedWithin(adminConsole, since)).toEqual(revoked("the VM was deleted"));
      expect(rig.proxy.open).toBe(0);
    }, 120_000);

    it("a change on this controller re-checks at once (users.ts → consolesChanged), long before the next period", async () => {
      // a second proxy in front of the same agent, whose periodic re-check would come only after an hour
      const slow = createConsoleProxy({
        getSecret: () => SECRET,
        spend: (ticket, claims) => spendConsoleTicket(ticket, claims),
        authorise: (consoles) => revokedConsoles(consoles),
        recheckEveryMs: 3_600_000,
      });
      const server = http.createServer((_q, res) => res.writeHead(404).end());
      server.on("upgrade", (req, socket, head) => slow.handleUpgrade(req, socket, head));
      const base = (await listenOnLoopback(server)).replace(/^http/, "ws");
      registerServerHooks({ consolesChanged: () => void slow.recheck() });
      try {
        const who = { actor: await user("admin2", "admin", []), clientIp: null };
        await db().vm.create({
          data: { id: VM_ID, name: "revoke", arch: "x86_64", vcpus: 1, memoryMb: 256, diskGb: 1, hostId: HOST_ID },
        });
        const soon = await open(await user("soon", "operator", [DEFAULT_PROJECT_ID]), true, base);
        const since = Date.now();
        await setDisabled("u-soon", true, who);
        // without the shortcut: an hour
        expect(await closedWithin(soon, since)).toEqual(revoked("your account was disabled"));
      } finally {
        registerServerHooks({ consolesChanged: () => {} });
        slow.closeAll();
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    }, 60_000);
  });
});
