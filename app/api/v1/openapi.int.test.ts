// The API contract: every GET route handler under app/api/v1 is called against a real, seeded
// database as an admin with a real API token, and its JSON answer is validated against the OpenAPI
// document's response schema for that path (lib/openapi.ts, generated from the zod schemas).
// Response objects are closed (additionalProperties: false), so a field the document lacks fails
// here, as does a missing required one, and so does a GET route the document does not describe.
import { readdirSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020";
import addFormats from "ajv-formats";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "@/lib/server/testing/server-db";
import type { TestDatabase } from "@/prisma/test-db";
import { buildOpenApi } from "@/lib/openapi";
import { createNetworkSchema } from "@/lib/schemas/networks";
import { db, type Actor } from "@/lib/server/platform";
import { createToken, createUser } from "@/lib/server/identity";
import { createProject } from "@/lib/server/projects";
import { createNetwork } from "@/lib/server/networks";
import { createVm } from "@/lib/server/vms";

const API_DIR = dirname(fileURLToPath(import.meta.url));

/**
 * GET routes that answer something other than a JSON document (a stream, a file, a redirect), with
 * the reason. Each must still be a route file; none under app/api/v1 needs it today.
 */
const NOT_JSON: Record<string, string> = {};

type RouteModule = {
  GET?: (req: Request, ctx: { params: Promise<Record<string, string>> }) => Promise<Response> | Response;
};
type GetRoute = { file: string; path: string; params: string[]; load: () => Promise<RouteModule> };

/** app/api/v1/**\/route.ts → "/api/v1/…/{param}" (Next's [param] folders are OpenAPI's {param}). */
function discoverRoutes(): GetRoute[] {
  const files = (readdirSync(API_DIR, { recursive: true }) as string[])
    .filter((f) => f.split(sep).at(-1) === "route.ts")
    .sort();
  return files.map((file) => {
    const segments = dirname(file)
      .split(sep)
      .filter((s) => s !== ".");
    const params = segments.filter((s) => /^\[\w+\]$/.test(s)).map((s) => s.slice(1, -1));
    const path = "/api/v1/" + segments.map((s) => s.replace(/^\[(\w+)\]$/, "{$1}")).join("/");
    return {
      file: relative(process.cwd(), join(API_DIR, file)),
      path: path.replace(/\/$/, ""),
      params,
      load: () => import(join(API_DIR, file)) as Promise<RouteModule>,
    };
  });
}

type OpenApiDoc = ReturnType<typeof buildOpenApi>;
type Operation = { responses?: Record<string, { content?: Record<string, { schema?: unknown }> }> };

/** The 200 JSON schema of GET `path`, or why the document has none. */
function documentedSchema(doc: OpenApiDoc, path: string): { schema: unknown } | { missing: string } {
  const item = (doc.paths as Record<string, Record<string, Operation>>)[path];
  if (!item) return { missing: `the OpenAPI document has no path ${path}` };
  if (!item.get) return { missing: `the OpenAPI document has no GET ${path}` };
  const schema = item.get.responses?.["200"]?.content?.["application/json"]?.schema;
  return schema ? { schema } : { missing: `GET ${path} documents no application/json schema for 200` };
}

/** OpenAPI's #/components/schemas/X are JSON Schema's #/$defs/X: one standalone 2020-12 schema per response. */
function validatorFor(doc: OpenApiDoc, ajv: Ajv2020, schema: unknown): ValidateFunction {
  const toDefs = (v: unknown) => JSON.parse(JSON.stringify(v).replaceAll('"#/components/schemas/', '"#/$defs/'));
  return ajv.compile({ ...toDefs(schema), $defs: toDefs(doc.components.schemas) });
}

function newAjv(): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false });
  addFormats(ajv);
  return ajv;
}

const ROUTES = discoverRoutes();

describe("the route list", () => {
  it("finds the API's routes", () => {
    expect(ROUTES.length).toBeGreaterThan(20);
    expect(ROUTES.map((r) => r.path)).toEqual(
      expect.arrayContaining(["/api/v1/vms", "/api/v1/vms/{id}", "/api/v1/image-families/{family}"]),
    );
  });

  it("every GET in the document is a route handler here (no stale paths)", async () => {
    const doc = buildOpenApi("http://localhost");
    const withGet = new Set<string>();
    for (const r of ROUTES) if ((await r.load()).GET) withGet.add(r.path);
    for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
      if (item.get) expect(withGet, `the document has GET ${path}, app/api/v1 has no such GET route`).toContain(path);
      expect(
        ROUTES.map((r) => r.path),
        `the document has ${path}, app/api/v1 has no such route`,
      ).toContain(path);
    }
  });

  it("the validator has teeth: an undocumented field, a missing required one and a wrong type all fail", () => {
    const doc = buildOpenApi("http://localhost");
    const found = documentedSchema(doc, "/api/v1/vms/{id}");
    if (!("schema" in found)) throw new Error(found.missing);
    const validate = validatorFor(doc, newAjv(), found.schema);
    const vm = {
      id: "v1",
      name: "vm",
      hostname: "web-1",
      arch: "x86_64",
      vcpus: 1,
      memoryMb: 256,
      diskGb: 1,
      status: "running",
      powerState: "running",
      desiredState: "running",
      emulated: false,
      allowEmulation: false,
      lastError: null,
      host: null,
      image: null,
      display: "vga",
      project: null,
      instanceType: null,
      ownerId: null,
      machineType: "pc-q35-7.2",
      cpuModel: null,
      generation: 1,
      ha: false,
      migratingToHostId: null,
      drift: null,
      createdAt: "2026-01-01T00:00:00.000Z",
      updatedAt: "2026-01-01T00:00:00.000Z",
    };
    expect(validate(vm), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ ...vm, secret: "leak" })).toBe(false);
    const withoutDisplay: Partial<typeof vm> = { ...vm };
    delete withoutDisplay.display;
    expect(validate(withoutDisplay)).toBe(false);
    expect(validate({ ...vm, createdAt: "yesterday" })).toBe(false);
    expect(validate({ ...vm, arch: "arm64" })).toBe(false);
  });
});

describe.each(PROVIDERS)("every GET /api/v1 route answers what the OpenAPI document says, on %s", (provider) => {
  let database: TestDatabase | undefined;
  let token: string;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    database = await useFreshDatabase(provider);
    const { id: adminId } = await createUser({
      email: "admin@contract.test",
      name: "Admin",
      role: "admin",
      password: "admin-password-1",
    });
    const admin: Actor = { id: adminId, email: "admin@contract.test", name: "Admin", role: "admin", via: "session" };
    const who = { actor: admin, clientIp: "127.0.0.1" };
    const { id: operatorId } = await createUser(
      { email: "op@contract.test", name: "Op", role: "operator", password: "op-password-12" },
      who,
    );
    token = (await createToken(admin, "contract test", 0, null)).token;

    // Rows for every list and every dynamic segment, with optional fields filled, so item schemas are exercised.
    const now = new Date();
    const host = await db().host.create({
      data: {
        name: "x86-1",
        arch: "x86_64",
        status: "online",
        cpuModel: "Test CPU",
        cpuCount: 16,
        memoryMb: 65536,
        diskGb: 1000,
        kvm: true,
        nativeArches: '["x86_64"]',
        emulatedArches: '["aarch64"]',
        qemuVersion: "7.2.0",
        ovsDatapath: "netdev",
        agentUrl: "http://127.0.0.1:9",
        certFingerprint: "ab".repeat(32),
        certExpiresAt: new Date(now.getTime() + 86_400_000),
        lastHeartbeatAt: now,
      },
    });
    await db().host.create({
      data: {
        name: "arm-1",
        arch: "aarch64",
        status: "offline",
        adminState: "maintenance",
        cpuCount: 4,
        memoryMb: 8192,
        diskGb: 100,
        nativeArches: '["aarch64"]',
        emulatedArches: "[]",
      },
    });
    const image = await db().image.create({
      data: {
        name: "busybox-x86",
        family: "busybox",
        arch: "x86_64",
        format: "kernel",
        status: "ready",
        sha256: "cd".repeat(32),
        sizeBytes: 5_000_000n,
        virtualSize: 5_000_000n,
        cmdline: "console=ttyS0",
        minMemoryMb: 64,
        minDiskGb: 1,
        ownerId: adminId,
      },
    });
    await db().image.create({
      data: {
        name: "busybox-arm",
        family: "busybox",
        arch: "aarch64",
        format: "kernel",
        status: "ready",
        minMemoryMb: 64,
        minDiskGb: 1,
      },
    });
    await db().image.create({ data: { name: "uploading", arch: "unknown", format: "qcow2", status: "uploading" } });
    await db().hostImage.create({
      data: { hostId: host.id, imageId: image.id, state: "ready", sizeBytes: 5_000_000n },
    });
    const network = await createNetwork(
      createNetworkSchema.parse({ name: "lan", vlanId: 100, cidr: "10.0.0.0/24", gateway: "10.0.0.1" }),
      who,
    );
    const project = await createProject({ name: "lab", description: "contract test" }, who);
    await db().projectMember.create({ data: { projectId: project.id, userId: operatorId } });
    const created = await createVm(
      {
        name: "vm-1",
        arch: "x86_64",
        imageId: image.id,
        vcpus: 1,
        memoryMb: 256,
        diskGb: 1,
        networkId: network.id,
        allowEmulation: false,
        strategy: "spread",
        projectId: project.id,
      },
      who,
      { provision: false },
    );
    const vmId = created.vm.id;
    await db().snapshot.create({
      data: {
        vmId,
        name: "before-upgrade",
        memory: true,
        status: "ready",
        claimedDiskGb: 2,
        vmStateBytes: 300_000_000n,
      },
    });
    // A failed task after the admin's account exists: an unread notification, an event with every field.
    await db().task.create({
      data: {
        kind: "vm.start",
        status: "failed",
        vmId,
        hostId: host.id,
        userId: adminId,
        error: "the agent is not reachable",
        startedAt: now,
        finishedAt: new Date(Date.now() + 1000),
        steps: {
          create: [
            { name: "start", position: 0, status: "failed", message: "not reachable", startedAt: now, finishedAt: now },
          ],
        },
      },
    });
    // Issue 14: a finished migration (progress, measured result) and the host's evacuation (GET /hosts/:id/tasks).
    const measured = {
      mode: "live",
      fromHostId: host.id,
      toHostId: host.id,
      totalMs: 1200,
      downtimeMs: 40,
      bytes: 1 << 20,
    };
    await db().task.create({
      data: {
        kind: "vm.migrate",
        status: "succeeded",
        vmId,
        hostId: host.id,
        progress: 100,
        result: JSON.stringify(measured),
      },
    });
    await db().task.create({
      data: {
        kind: "host.evacuate",
        status: "running",
        hostId: host.id,
        progress: 50,
        steps: { create: [{ name: "vm-a", position: 0, status: "succeeded", message: "live-migrated to x86-2" }] },
      },
    });
    await db().metricSample.create({ data: { hostId: host.id, cpuPct: 12.5, memUsedMb: 2048 } });
    await db().metricSample.create({ data: { vmId, cpuPct: 50, memUsedMb: 200 } });
    // A volume attached to the VM (issue 13): the volume list, one volume and the VM's volumes.
    const volume = await db().volume.create({
      data: {
        name: "data-1",
        sizeGb: 2,
        hostId: host.id,
        vmId,
        imageId: image.id,
        projectId: project.id,
        ownerId: adminId,
        status: "in-use",
        lastError: "an earlier grow failed",
      },
    });
    // An aarch64-only instance type (ADR 050), and the VM above created from it.
    const instanceType = await db().instanceType.create({
      data: { name: "m1.arm", vcpus: 1, memoryMb: 256, diskGb: 1, arch: "aarch64", description: "Kunpeng only" },
    });
    await db().vm.update({ where: { id: vmId }, data: { instanceTypeId: instanceType.id } });
    // A security group with rules, the VM in it (issue 18, ADR 052).
    const securityGroup = await db().securityGroup.create({
      data: {
        name: "web",
        projectId: project.id,
        rules: {
          create: [
            { direction: "out", protocol: "any" },
            { direction: "in", protocol: "tcp", portMin: 22, portMax: 22, remoteCidr: "10.0.0.0/8" },
          ],
        },
        vms: { create: [{ vmId }] },
      },
    });
    // An external network, a router for the VM's network with a port on the host, and a floating IP
    // mapped to the VM's NIC (issue 18, ADR 059).
    const external = await db().externalNetwork.create({
      data: {
        name: "provider",
        cidr: "203.0.113.0/24",
        gateway: null,
        poolStart: "203.0.113.10",
        poolEnd: "203.0.113.99",
      },
    });
    const router = await db().router.create({
      data: { name: "edge", networkId: network.id, externalNetworkId: external.id, snat: true },
    });
    await db().routerPort.create({
      data: {
        routerId: router.id,
        hostId: host.id,
        externalNetworkId: external.id,
        address: "203.0.113.10",
        appliedSpec: null,
        error: "Host is offline; its router follows when it is back.",
      },
    });
    const nic = await db().nic.findFirstOrThrow({ where: { vmId } });
    const floatingIp = await db().floatingIp.create({
      data: { externalNetworkId: external.id, address: "203.0.113.11", projectId: project.id, nicId: nic.id },
    });
    Object.assign(ids, {
      "external-networks": external.id,
      routers: router.id,
      "floating-ips": floatingIp.id,
      "security-groups": securityGroup.id,
      "instance-types": instanceType.id,
      hosts: host.id,
      images: image.id,
      networks: network.id,
      projects: project.id,
      vms: vmId,
      volumes: volume.id,
      users: operatorId,
      "image-families": "busybox",
    });
  });

  afterAll(async () => {
    await releaseDatabase(database);
  });

  /** A seeded row for each dynamic segment: {id} after /hosts is a host id, {family} a family name, … */
  function urlFor(route: GetRoute): { url: string; params: Record<string, string> } {
    const params: Record<string, string> = {};
    const segments = route.path.split("/");
    const url = segments
      .map((s, i) => {
        const m = /^\{(\w+)\}$/.exec(s);
        if (!m) return s;
        const value = ids[segments[i - 1]!];
        if (!value)
          throw new Error(`${route.file}: no seeded row for {${m[1]}} after /${segments[i - 1]}; add one to the test`);
        params[m[1]!] = value;
        return encodeURIComponent(value);
      })
      .join("/");
    return { url, params };
  }

  it("covers every GET route, and each answer validates against the document", async () => {
    const doc = buildOpenApi("http://localhost");
    const ajv = newAjv();
    const failures: string[] = [];
    const checked: string[] = [];
    for (const route of ROUTES) {
      const mod = await route.load();
      if (!mod.GET) continue;
      if (NOT_JSON[route.path]) continue;
      const found = documentedSchema(doc, route.path);
      if ("missing" in found) {
        failures.push(
          `${route.file}: ${found.missing} (document the route in lib/openapi.ts, or list it in NOT_JSON with a reason)`,
        );
        continue;
      }
      const { url, params } = urlFor(route);
      const res = await mod.GET(
        new Request(`http://localhost${url}`, {
          headers: { authorization: `Bearer ${token}`, accept: "application/json" },
        }),
        { params: Promise.resolve(params) },
      );
      const text = await res.text();
      if (res.status !== 200) {
        failures.push(`GET ${url}: status ${res.status}: ${text.slice(0, 300)}`);
        continue;
      }
      if (!res.headers.get("content-type")?.includes("application/json"))
        failures.push(`GET ${url}: content-type ${res.headers.get("content-type")}`);
      const body = JSON.parse(text) as unknown;
      const validate = validatorFor(doc, ajv, found.schema);
      if (!validate(body)) {
        const why = (validate.errors ?? []).map(
          (e) =>
            `${e.instancePath || "/"} ${e.message}${e.keyword === "additionalProperties" ? ` (${String(e.params.additionalProperty)})` : ""}`,
        );
        failures.push(`GET ${url} does not match the document: ${why.join("; ")}`);
        continue;
      }
      // The seeded rows make every collection non-empty, so the item schemas were really exercised.
      const items = Array.isArray(body) ? body : (body as { items?: unknown }).items;
      if (Array.isArray(items) && items.length === 0)
        failures.push(`GET ${url}: empty list; seed a row so its items are validated`);
      checked.push(route.path);
    }
    expect(failures, failures.join("\n")).toEqual([]);
    const expected = ROUTES.filter((r) => !NOT_JSON[r.path]).map((r) => r.path);
    const withGet: string[] = [];
    for (const r of ROUTES) if ((await r.load()).GET && expected.includes(r.path)) withGet.push(r.path);
    expect(checked.sort()).toEqual(withGet.sort());
    expect(checked.length).toBeGreaterThanOrEqual(24);
  });
});
