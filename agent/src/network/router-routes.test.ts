// The agent API's router routes (agent/src/api/router-routes.ts, ADR 058) against a fake backend, and the
// URL table. The real service is proven in router.int.test.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type http from "node:http";
import type { HostFacts } from "../../../lib/schemas/agent-api";
import type { RouterStatus } from "../../../lib/schemas/agent-router";
import { TokenVerifier } from "../api/auth";
import { HttpError } from "../api/body";
import { handleRouterRoute, type RouterBackend } from "../api/router-routes";
import { ALLOWED, route } from "../api/routes";
import { closeServer, createAgentServer, listen } from "../api/server";
import { emptyAgentBackend } from "../testing/support";

const body = {
  gateway: "10.77.0.1/24",
  external: { address: "192.0.2.10/24" },
  snat: true,
  floatingIps: [{ floating: "192.0.2.50", fixed: "10.77.0.12" }],
};

function fake(externalNetwork = true) {
  const calls: string[] = [];
  const backend: RouterBackend = {
    externalNetwork,
    list: () => [],
    put: async (vlan, spec) => {
      calls.push(`put ${vlan}`);
      return { vlan, netns: "pa-dhcp-x", uplink: "pux", spec } as RouterStatus;
    },
    delete: async (vlan) => {
      calls.push(`delete ${vlan}`);
      return true;
    },
  };
  return { backend, calls };
}

async function call(method: string, rawVlan: string | null, json: unknown, backend: RouterBackend | undefined) {
  const sent: { status: number; body: unknown }[] = [];
  await handleRouterRoute({ method } as http.IncomingMessage, {} as http.ServerResponse, rawVlan, {
    routers: backend,
    readJson: async () => json,
    send: (_res, status, b) => sent.push({ status, body: b }),
  });
  return sent[0]!;
}

async function error(p: Promise<unknown>): Promise<HttpError> {
  try {
    await p;
  } catch (e) {
    return e as HttpError;
  }
  throw new Error("no error");
}

describe("router routes", () => {
  it("URL table: /v1/routers (GET) and /v1/routers/:vlan (PUT, DELETE)", () => {
    expect(route("/v1/routers")).toEqual({ name: "routers" });
    expect(route("/v1/routers/12")).toEqual({ name: "router", rawVlan: "12" });
    expect(ALLOWED.routers).toEqual(["GET"]);
    expect(ALLOWED.router).toEqual(["PUT", "DELETE"]);
  });

  it("PUT applies a valid spec; GET lists; DELETE removes", async () => {
    const { backend, calls } = fake();
    expect(await call("PUT", "12", body, backend)).toMatchObject({
      status: 200,
      body: { vlan: 12, netns: "pa-dhcp-x" },
    });
    expect(await call("GET", null, null, backend)).toEqual({ status: 200, body: { routers: [] } });
    expect(await call("DELETE", "12", null, backend)).toEqual({ status: 200, body: { vlan: 12, deleted: true } });
    expect(calls).toEqual(["put 12", "delete 12"]);
  });

  it("400 naming the field on bad input, before the backend is called", async () => {
    const { backend, calls } = fake();
    const e = await error(
      call("PUT", "12", { ...body, floatingIps: [{ floating: "192.0.2.50", fixed: "10.9.0.1" }] }, backend),
    );
    expect(e.status).toBe(400);
    expect(e.message).toMatch(/floatingIps\.0\.fixed/);
    expect((await error(call("PUT", "4095", body, backend))).status).toBe(400);
    expect((await error(call("DELETE", "x", null, backend))).status).toBe(400);
    expect(calls).toEqual([]);
  });

  it("409 on a host without an external network", async () => {
    const e = await error(call("PUT", "12", body, fake(false).backend));
    expect(e.status).toBe(409);
    expect(e.message).toMatch(/no external network/);
    expect((await error(call("PUT", "12", body, undefined))).status).toBe(409);
    expect(await call("GET", null, null, undefined)).toEqual({ status: 200, body: { routers: [] } });
  });
});

describe("router routes on the real agent HTTP server", () => {
  const TOKEN = "agent-router-token-0123456789";
  let server: http.Server;
  let base = "";
  const { backend, calls } = fake();
  const failing: RouterBackend = {
    ...backend,
    put: async () => {
      throw Object.assign(new Error("VLAN 13 has the gateway 10.1.0.1/24 on this host"), { code: "conflict" });
    },
  };

  beforeAll(async () => {
    const auth = new TokenVerifier();
    auth.set(TOKEN);
    const { usage, vms } = emptyAgentBackend();
    const routers: RouterBackend = {
      externalNetwork: true,
      list: () => backend.list(),
      put: (vlan, spec) => (vlan === 13 ? failing.put(vlan, spec) : backend.put(vlan, spec)),
      delete: (vlan) => backend.delete(vlan),
    };
    const facts = () => ({ arch: "x86_64", diskGb: 10 }) as unknown as HostFacts;
    server = createAgentServer({ facts, usage, auth, vms, routers }) as http.Server;
    base = `http://127.0.0.1:${(await listen(server, "127.0.0.1", 0)).port}/v1/routers`;
  });
  afterAll(async () => closeServer(server));

  const send = (method: string, path: string, json?: unknown, token: string | null = TOKEN) =>
    fetch(`${base}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), "content-type": "application/json" },
      ...(json === undefined ? {} : { body: JSON.stringify(json) }),
    });

  it("needs the host token; then PUT, GET and DELETE work; a backend conflict is a 409", async () => {
    expect((await send("PUT", "/12", body, null)).status).toBe(401);
    expect((await send("GET", "", undefined, "wrong-token-0123456789")).status).toBe(401);
    expect(calls).toEqual([]);
    expect((await send("PUT", "/12", body)).status).toBe(200);
    expect(await (await send("GET", "")).json()).toEqual({ routers: [] });
    const bad = await send("PUT", "/12", { ...body, snat: "yes" });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toMatch(/snat/);
    expect((await send("PUT", "/13", body)).status).toBe(409);
    expect((await send("POST", "/12", body)).status).toBe(405);
    expect((await send("DELETE", "/12")).status).toBe(200);
    expect(calls).toEqual(["put 12", "delete 12"]);
  });
});
