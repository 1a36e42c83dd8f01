// Over 600 lines: the one table of every API path and its answer; split by tag it would scatter the document.
// Builds the OpenAPI 3.1 document from the zod schemas the API itself validates with and answers
// with (zod 4's native JSON Schema output), so the document cannot drift from the code: request
// bodies and query parameters are the schemas' input side, responses their output side (what
// travels after toJsonSafe). app/api/v1/openapi.int.test.ts calls every GET route and validates the
// real answers against this document.
import { setLocaleSchema } from "./i18n/locales";
import { z } from "zod";
import {
  auditEventDtoSchema,
  createVmResultSchema,
  hostDtoSchema,
  imageDtoSchema,
  storedImageDtoSchema,
  vmDtoSchema,
} from "./schemas/api";
import {
  createSecurityGroupRuleSchema,
  createSecurityGroupSchema,
  securityGroupDtoSchema,
  securityGroupListDtoSchema,
  securityGroupRuleListDtoSchema,
  setVmSecurityGroupsSchema,
  vmSecurityGroupsDtoSchema,
} from "./schemas/security-groups";
import {
  createExternalNetworkSchema,
  createFloatingIpSchema,
  createRouterSchema,
  externalNetworkDtoSchema,
  floatingIpDtoSchema,
  routerDtoSchema,
  updateFloatingIpSchema,
  updateRouterSchema,
} from "./schemas/routers";
import { deletedSchema, errorSchema, itemsOf, listOf } from "./schemas/dto";
import { auditListQuery, eventListQuery, hostListQuery, imageListQuery, vmListQuery } from "./schemas/entities";
import { updateHostSchema } from "./schemas/hosts";
import { imageFamilyDtoSchema, imagePatchSchema, importImageSchema } from "./schemas/images";
import { imageEvictRequestSchema, imageEvictResultSchema, imageHostDtoSchema } from "./schemas/host-images";
import { createNetworkSchema, networkDtoSchema, networkListQuery, updateNetworkSchema } from "./schemas/networks";
import { createVmSchema, vmActionRequestSchema, vmEventDtoSchema, vmTaskDtoSchema } from "./schemas/vms";
import { consoleTicketRequestSchema, consoleTicketResponseSchema } from "./schemas/console";
import { placementCapacitySchema, placementExplanationSchema, placementRequestSchema } from "./scheduler/schema";
import {
  createInstanceTypeSchema,
  instanceTypeDtoSchema,
  instanceTypeListDtoSchema,
  instanceTypeListQuery,
  updateInstanceTypeSchema,
} from "./schemas/instance-types";
import {
  createProjectSchema,
  projectDtoSchema,
  projectListDtoSchema,
  projectMemberSchema,
  updateProjectSchema,
} from "./schemas/projects";
import {
  markNotificationsReadSchema,
  notificationsDtoSchema,
  summaryDtoSchema,
  taskEventDtoSchema,
} from "./schemas/events";
import { hostMetricsDtoSchema, metricsQuerySchema, vmMetricsDtoSchema } from "./schemas/metrics";
import { createUserSchema, updateUserSchema, userListDtoSchema } from "./schemas/users";
import {
  attachVolumeSchema,
  createVolumeSchema,
  growVolumeSchema,
  insertMediaSchema,
  resizeVmSchema,
  vmMediaDtoSchema,
  volumeDtoSchema,
  volumeListQuery,
} from "./schemas/volumes";
import { captureRequestSchema, createSnapshotSchema, snapshotDtoSchema } from "./schemas/snapshots";
import {
  maintenanceRequestSchema,
  migrateRequestSchema,
  migrationPreviewSchema,
  vmPatchSchema,
} from "./schemas/migration";

/** The document's own shape, as far as a client relies on it (GET /api/v1/openapi.json). */
const openApiDocumentSchema = z.looseObject({
  openapi: z.string(),
  info: z.looseObject({ title: z.string(), version: z.string() }),
  paths: z.record(z.string(), z.unknown()),
  components: z.looseObject({ schemas: z.record(z.string(), z.unknown()) }),
});

/** Every named response shape: components.schemas of the document. */
export const RESPONSE_SCHEMAS = {
  Error: errorSchema,
  Deleted: deletedSchema,
  Host: hostDtoSchema,
  HostList: listOf(hostDtoSchema),
  HostMetrics: hostMetricsDtoSchema,
  Image: imageDtoSchema,
  ImageList: listOf(imageDtoSchema),
  StoredImage: storedImageDtoSchema,
  ImageHostList: itemsOf(imageHostDtoSchema),
  ImageEvictResult: imageEvictResultSchema,
  ImageFamily: imageFamilyDtoSchema,
  ImageFamilyList: z.array(imageFamilyDtoSchema),
  Vm: vmDtoSchema,
  VmList: listOf(vmDtoSchema),
  CreateVmResult: createVmResultSchema,
  VmTaskList: itemsOf(vmTaskDtoSchema),
  VmEventList: itemsOf(vmEventDtoSchema),
  VmMetrics: vmMetricsDtoSchema,
  ConsoleTicket: consoleTicketResponseSchema,
  Volume: volumeDtoSchema,
  VolumeList: itemsOf(volumeDtoSchema),
  VmMedia: vmMediaDtoSchema,
  Snapshot: snapshotDtoSchema,
  SnapshotList: itemsOf(snapshotDtoSchema),
  PlacementExplanation: placementExplanationSchema,
  MigrationPreview: migrationPreviewSchema,
  MigrationStarted: z.object({ task: z.object({ id: z.string() }) }),
  PlacementCapacity: placementCapacitySchema,
  Network: networkDtoSchema,
  NetworkList: listOf(networkDtoSchema),
  Project: projectDtoSchema,
  ProjectList: projectListDtoSchema,
  InstanceType: instanceTypeDtoSchema,
  InstanceTypeList: instanceTypeListDtoSchema,
  SecurityGroup: securityGroupDtoSchema,
  SecurityGroupList: securityGroupListDtoSchema,
  SecurityGroupRuleList: securityGroupRuleListDtoSchema,
  VmSecurityGroups: vmSecurityGroupsDtoSchema,
  ExternalNetwork: externalNetworkDtoSchema,
  ExternalNetworkList: z.object({ items: z.array(externalNetworkDtoSchema), total: z.number().int() }),
  Router: routerDtoSchema,
  RouterList: z.object({ items: z.array(routerDtoSchema), total: z.number().int() }),
  FloatingIp: floatingIpDtoSchema,
  FloatingIpList: z.object({ items: z.array(floatingIpDtoSchema), total: z.number().int() }),
  UserList: userListDtoSchema,
  AuditList: listOf(auditEventDtoSchema),
  TaskEvent: taskEventDtoSchema,
  TaskEventList: listOf(taskEventDtoSchema),
  Notifications: notificationsDtoSchema,
  Summary: summaryDtoSchema,
  OpenApiDocument: openApiDocumentSchema,
} satisfies Record<string, z.ZodType>;
export type ResponseSchemaName = keyof typeof RESPONSE_SCHEMAS;

// Per-schema `$schema`/`$id` keys are left out: OpenAPI 3.1 documents are JSON Schema 2020-12
// throughout, and components are addressed by their place in the document. `format: date-time`
// says what zod's long ISO-timestamp regex says, and ±2^53 bounds only restate "an integer".
const TO_JSON = {
  unrepresentable: "any",
  target: "draft-2020-12",
  override: ({ jsonSchema: js }: { jsonSchema: Record<string, unknown> }) => {
    if (js.format === "date-time") delete js.pattern;
    if (js.type === "integer" && js.minimum === Number.MIN_SAFE_INTEGER) delete js.minimum;
    if (js.type === "integer" && js.maximum === Number.MAX_SAFE_INTEGER) delete js.maximum;
  },
} as const;

function withoutIds(js: Record<string, unknown>): Record<string, unknown> {
  const rest = { ...js };
  delete rest.$schema;
  delete rest.$id;
  return rest;
}

function jsonSchema(schema: z.ZodType, io: "input" | "output"): Record<string, unknown> {
  return withoutIds(z.toJSONSchema(schema, { ...TO_JSON, io }) as Record<string, unknown>);
}

/** components.schemas: one entry per response shape; a named shape inside another is a $ref to it. */
function componentSchemas(): Record<string, Record<string, unknown>> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(RESPONSE_SCHEMAS)) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, {
    ...TO_JSON,
    io: "output",
    uri: (id) => `#/components/schemas/${id}`,
  }) as { schemas: Record<string, Record<string, unknown>> };
  return Object.fromEntries(Object.entries(schemas).map(([id, js]) => [id, withoutIds(js)]));
}

function queryParams(schema: z.ZodObject) {
  const js = jsonSchema(schema, "input") as { properties?: Record<string, unknown> };
  return Object.entries(js.properties ?? {}).map(([name, s]) => ({ name, in: "query", required: false, schema: s }));
}

const ref = (name: ResponseSchemaName) => ({ $ref: `#/components/schemas/${name}` });
const jsonContent = (name: ResponseSchemaName) => ({ "application/json": { schema: ref(name) } });

const ERRORS = {
  "400": "Invalid input (the message says which field and why)",
  "401": "Not signed in (no session cookie or Bearer token)",
  "403": "Your role lacks the permission, or a browser write came from another site (cross-site request refused)",
  "404": "Not found (also: outside your projects)",
  "409": "Conflict (the message says why, e.g. no host can take it, or not in that state)",
  "413": "Too large",
  "415": "A cookie-authenticated write whose body is not application/json (multipart/form-data for uploads)",
  "422": "Valid JSON, but not possible (e.g. image/arch mismatch)",
  "429": "Too many requests (e.g. more concurrent uploads than POLYARCH_UPLOADS_PER_USER)",
  "503": "The host's agent is not reachable",
  "507": "The controller's image store lacks the space (free space minus POLYARCH_IMAGE_STORE_RESERVE_GB)",
} as const;
type ErrorStatus = keyof typeof ERRORS;

type Operation = {
  summary: string;
  query?: z.ZodObject;
  /** request body (its input side); `optionalBody` when it may be empty */
  body?: z.ZodType;
  optionalBody?: boolean;
  /** the success status (default 200) and its schema; a description alone when the answer is not JSON we name */
  status?: number;
  ok: ResponseSchemaName | { description: string };
  errors?: ErrorStatus[];
  /** public: no authentication */
  public?: boolean;
};

function operation(path: string, tag: string, o: Operation, write: boolean) {
  const pathParams = [...path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({
    name,
    in: "path",
    required: true,
    schema: { type: "string" },
  }));
  const parameters = [...pathParams, ...(o.query ? queryParams(o.query) : [])];
  const errors: ErrorStatus[] = o.public
    ? []
    : [
        "400",
        "401",
        "403",
        ...(pathParams.length ? (["404"] as const) : []),
        ...(o.errors ?? []),
        ...(write ? (["415"] as const) : []),
      ];
  return {
    tags: [tag],
    summary: o.summary,
    ...(o.public ? { security: [] } : {}),
    ...(parameters.length ? { parameters } : {}),
    ...(o.body
      ? {
          requestBody: {
            required: !o.optionalBody,
            content: { "application/json": { schema: jsonSchema(o.body, "input") } },
          },
        }
      : {}),
    responses: {
      [String(o.status ?? 200)]: typeof o.ok === "string" ? { description: o.ok, content: jsonContent(o.ok) } : o.ok,
      ...Object.fromEntries(
        [...new Set(errors)].map((s) => [s, { description: ERRORS[s], content: jsonContent("Error") }]),
      ),
    },
  };
}

type Methods = Partial<Record<"get" | "post" | "put" | "patch" | "delete", Operation>>;

function paths(tag: string, table: Record<string, Methods>) {
  return Object.fromEntries(
    Object.entries(table).map(([path, methods]) => [
      path,
      Object.fromEntries(Object.entries(methods).map(([m, o]) => [m, operation(path, tag, o, m !== "get")])),
    ]),
  );
}

export function buildOpenApi(serverUrl: string) {
  return {
    openapi: "3.1.0",
    info: {
      title: "Polyarch API",
      version: "1",
      description:
        "Hosts, images and VMs of a mixed x86_64 + aarch64 private cloud. " +
        "Authenticate with a session cookie or `Authorization: Bearer <personal API token>`. " +
        "A write (POST/PATCH/DELETE) with the session cookie must come from the console's own origin (Origin, Sec-Fetch-Site) " +
        "and send its body as application/json (uploads: multipart/form-data); Bearer-token requests are exempt. " +
        "Architecture parameters accept aliases (amd64, x64, arm64, …) and responses use the canonical x86_64 / aarch64. " +
        "Errors answer `{error: {code, message}}`.",
    },
    servers: [{ url: serverUrl }],
    security: [{ bearer: [] }, { cookie: [] }],
    paths: {
      ...paths("hosts", {
        "/api/v1/hosts": { get: { summary: "List hosts", query: hostListQuery, ok: "HostList" } },
        "/api/v1/hosts/{id}": {
          get: { summary: "One host", ok: "Host" },
          patch: {
            summary: "Admin state, allocation ratios and reservations (host:manage)",
            body: updateHostSchema,
            ok: "Host",
          },
        },
        "/api/v1/hosts/{id}/rotate-token": {
          post: {
            summary:
              "New host token (host:manage): the old one is refused at once; " +
              "the agent gets the new one over mutual TLS (delivered: false when it could not be reached; it then re-joins)",
            ok: { description: "{hostId, generation, delivered, message}" },
            errors: ["409"],
          },
        },
        "/api/v1/hosts/{id}/revoke": {
          post: {
            summary:
              "Revoke a host (host:manage): token and certificate refused, the controller stops calling it, its VMs become unknown; " +
              "it re-joins only with a join token created afterwards",
            ok: { description: "{hostId, revokedAt, message}" },
          },
        },
        "/api/v1/hosts/{id}/approve": {
          post: {
            summary:
              "Approve a pending host (host:manage; ADR 025): until then it heart-beats but takes no VM and downloads no image",
            ok: { description: "{hostId, approval, message}" },
            errors: ["409"],
          },
        },
        "/api/v1/hosts/{id}/reject": {
          post: {
            summary: "Reject a pending host (host:manage): its record is deleted; approved hosts are revoked instead",
            ok: { description: "{hostId, deleted, message}" },
            errors: ["409"],
          },
        },
        "/api/v1/hosts/{id}/maintenance": {
          post: {
            summary:
              "Enter maintenance (host:manage): nothing new is placed there; with evacuate (default true) every VM moves " +
              "away one at a time (running live, stopped cold) as a host.evacuate task, one step per VM with its outcome " +
              "or the reason it stays: 202 {task: {id}, host}; without evacuate 200 {task: null, host}. 409 while an " +
              "evacuation of the host runs",
            body: maintenanceRequestSchema,
            status: 202,
            ok: { description: "{task: {id} | null, host}" },
            errors: ["404", "409"],
          },
          delete: {
            summary:
              "Exit maintenance (host:manage): the host takes new VMs again; a running evacuation stops after its VM",
            ok: { description: "{host}" },
            errors: ["404"],
          },
        },
        "/api/v1/hosts/{id}/tasks": {
          get: {
            summary:
              "The host's own tasks, newest 10, with their steps (host:manage): an evacuation has one step per VM with its outcome",
            ok: "VmTaskList",
          },
        },
        "/api/v1/hosts/{id}/metrics": {
          get: {
            summary: "CPU % (0..100 over all cores) and memory used of the host, oldest first (60 minutes kept)",
            query: metricsQuerySchema,
            ok: "HostMetrics",
          },
        },
      }),
      ...paths("images", {
        "/api/v1/images": {
          get: {
            summary: "List the images the caller may see (own, public, their projects'; admins: all)",
            query: imageListQuery,
            ok: "ImageList",
          },
          post: {
            summary:
              "Upload an image (image:manage): multipart/form-data, text fields (name, format, arch, family, " +
              "visibility = project (default) | private | public (admins only), projectId (default: your first project), cmdline) " +
              "before the file parts (file, or kernel + initrd); streamed, checked, its architecture detected. " +
              "No total time limit; aborted after POLYARCH_UPLOAD_IDLE_TIMEOUT_S without a byte. " +
              "413: over the size limit or the project's image quota; 429: too many uploads of yours at once; 507: no space",
            status: 201,
            ok: "StoredImage",
            errors: ["409", "413", "422", "429", "507"],
          },
        },
        "/api/v1/images/import": {
          post: {
            summary: "Import a file already on the controller (admins: host:manage)",
            body: importImageSchema,
            status: 201,
            ok: "StoredImage",
            errors: ["409", "413", "422", "507"],
          },
        },
        "/api/v1/images/{id}": {
          get: { summary: "One image (404 when the caller may not see it)", ok: "Image" },
          patch: {
            summary: "Rename, set the family or visibility (image:manage; the image's owner or an admin, else 403)",
            body: imagePatchSchema,
            ok: "Image",
            errors: ["409"],
          },
          delete: {
            summary: "Delete an image no VM uses (image:manage; the image's owner or an admin, else 403)",
            ok: { description: "Deleted" },
            errors: ["409"],
          },
        },
        "/api/v1/images/{id}/hosts": {
          get: {
            summary:
              "Hosts holding a cached copy of the image (state, size, in use; names only VMs the caller may see)",
            ok: "ImageHostList",
          },
        },
        "/api/v1/images/{id}/evict": {
          post: {
            summary: "Remove the image's cached copy from one host (refused while a VM there uses it)",
            body: imageEvictRequestSchema,
            ok: "ImageEvictResult",
            errors: ["409", "503"],
          },
        },
        "/api/v1/image-families": {
          get: {
            summary: "Every image family with its build per architecture (builds the caller may see)",
            ok: "ImageFamilyList",
          },
        },
        "/api/v1/image-families/{family}": { get: { summary: "One image family and its builds", ok: "ImageFamily" } },
      }),
      ...paths("vms", {
        "/api/v1/vms": {
          get: { summary: "List the VMs of your projects (admins: all)", query: vmListQuery, ok: "VmList" },
          post: {
            summary: "Create a VM (vm:create; placed by the scheduler; follow its task)",
            body: createVmSchema,
            status: 202,
            ok: "CreateVmResult",
            errors: ["404", "409", "422"],
          },
        },
        "/api/v1/vms/{id}": {
          get: { summary: "One VM", ok: "Vm" },
          patch: {
            summary:
              "Rename (display name in any script; DNS-safe guest hostname, sent to the host and undone if it cannot take " +
              "it) and/or HA on or off (vm:operate; ADR 036): the host's agent is told first (503 and no change when it cannot be); " +
              "409 for a VM with attached volumes or not running/stopped. An HA VM restarts from its image on another " +
              "host once its dead host's lease has expired; data on the dead host's disk is not carried",
            body: vmPatchSchema,
            ok: "Vm",
            errors: ["409", "503"],
          },
          delete: { summary: "Delete a VM and its disk (vm:operate)", ok: "Deleted", errors: ["409", "503"] },
        },
        "/api/v1/vms/{id}/actions": {
          post: {
            summary: "start | stop | reboot | poweroff | retry (vm:operate); answers the VM as it is afterwards",
            body: vmActionRequestSchema,
            ok: "Vm",
            errors: ["409", "422", "503"],
          },
        },
        "/api/v1/vms/{id}/tasks": { get: { summary: "The VM's tasks (newest 20) with their steps", ok: "VmTaskList" } },
        "/api/v1/vms/{id}/events": { get: { summary: "The VM's own audit trail (newest 50)", ok: "VmEventList" } },
        "/api/v1/vms/{id}/metrics": {
          get: {
            summary:
              "CPU % (100 = one host core) and resident memory of the VM's QEMU process, oldest first (60 minutes kept)",
            query: metricsQuerySchema,
            ok: "VmMetrics",
          },
        },
        "/api/v1/vms/{id}/console-ticket": {
          post: {
            summary:
              "A 30-second single-use ticket for the serial console WebSocket GET /api/v1/vms/{id}/console?ticket=… " +
              'or, with kind "vnc", the graphical console (RFB over WebSocket) GET /api/v1/vms/{id}/vnc?ticket=… ' +
              "(409 when the VM has no display; write only with console:write)",
            body: consoleTicketRequestSchema,
            ok: "ConsoleTicket",
            errors: ["409", "503"],
          },
        },
        "/api/v1/vms/{id}/snapshots": {
          get: { summary: "The VM's snapshots, newest first", ok: "SnapshotList" },
          post: {
            summary:
              "Snapshot the VM's root disk, with `memory` also its RAM (vm:operate; memory needs a running VM). " +
              "Claims host disk (ADR 033): 409 with the numbers when it does not fit",
            body: createSnapshotSchema,
            status: 201,
            ok: "Snapshot",
            errors: ["409", "503"],
          },
        },
        "/api/v1/vms/{id}/snapshots/{sid}": {
          delete: {
            summary: "Delete a snapshot and release its disk claim (vm:operate)",
            ok: "Deleted",
            errors: ["409", "503"],
          },
        },
        "/api/v1/vms/{id}/snapshots/{sid}/revert": {
          post: {
            summary:
              "Revert the VM to a snapshot (vm:operate; no body). A disk-only revert of a running VM restarts it; " +
              "answers the VM as it is afterwards",
            ok: "Vm",
            errors: ["409", "503"],
          },
        },
        "/api/v1/vms/{id}/capture": {
          post: {
            summary:
              "Turn the disk of a stopped VM, or one of its snapshots (`snapshotId`), into a qcow2 image of the VM's arch " +
              "in the VM's project (vm:operate and image:manage); validated like an upload",
            body: captureRequestSchema,
            status: 201,
            ok: "StoredImage",
            errors: ["409", "413", "422", "503", "507"],
          },
        },
        // Moving VMs between hosts (issue 14; ADR 035, 037).
        "/api/v1/vms/{id}/migration-preview": {
          get: {
            summary:
              "Per host: can the VM move there (live when running, cold when stopped), every reason it cannot and what " +
              "could not be verified; why it cannot move at all (blocked); the scheduler's pick among the hosts that can",
            ok: "MigrationPreview",
          },
        },
        "/api/v1/vms/{id}/migrate": {
          post: {
            summary:
              "Move the VM to another host (host:manage): hostId or the scheduler's pick; live (running) or cold (stopped). " +
              "The target's capacity is claimed first; follow the vm.migrate task (progress, result). 409 with the reason " +
              "when the VM or the host cannot; on any failure the VM stays on its host",
            body: migrateRequestSchema,
            status: 202,
            ok: "MigrationStarted",
            errors: ["404", "409"],
          },
        },
        "/api/v1/vms/{id}/migrate/cancel": {
          post: {
            summary:
              "Cancel the VM's running migration (host:manage; no body): it stays on its host. 409 when none runs",
            ok: "MigrationStarted",
            errors: ["409"],
          },
        },
      }),
      // Data volumes, CD media and resize (issue 13; ADR 032): a volume lives on one host and attaches only to its VMs.
      ...paths("volumes", {
        "/api/v1/volumes": {
          get: {
            summary: "List the volumes of your projects (admins: all), with host, arch of the host and attached VM",
            query: volumeListQuery,
            ok: "VolumeList",
          },
          post: {
            summary:
              "Create a volume (vm:create): with vmId on that VM's host and attached to it (vm:operate on the VM); " +
              "with hostId on that host; with neither unplaced (it lands on the host of the first VM it is attached to). " +
              "imageId: a qcow2/raw image it starts from. Its size counts against the host's disk: 409 with the reason when it does not fit",
            body: createVolumeSchema,
            status: 201,
            ok: "Volume",
            errors: ["404", "409", "422", "503"],
          },
        },
        "/api/v1/volumes/{id}": {
          get: { summary: "One volume (shows the attached VM)", ok: "Volume" },
          patch: {
            summary:
              "Grow a volume (vm:operate): {sizeGb} larger than now; online when attached to a running VM. " +
              "409 for a smaller size or when the host lacks the room",
            body: growVolumeSchema,
            ok: "Volume",
            errors: ["409", "503"],
          },
          delete: {
            summary: "Delete a volume and give its host's disk back (vm:operate); 409 while attached",
            ok: "Deleted",
            errors: ["409", "503"],
          },
        },
        "/api/v1/vms/{id}/volumes": {
          get: { summary: "The VM's attached volumes in guest order (vdb, vdc, …)", ok: "VolumeList" },
          post: {
            summary:
              "Attach a volume (vm:operate; hot-plug on a running VM): only a volume on the VM's host " +
              "(or an unplaced one, which then claims its size there) and of the VM's project, else 409 saying why",
            body: attachVolumeSchema,
            ok: "Volume",
            errors: ["409", "503"],
          },
        },
        "/api/v1/vms/{id}/volumes/{volumeId}": {
          delete: {
            summary: "Detach a volume (vm:operate; unplugged from a running VM); it stays on its host, available",
            ok: "Volume",
            errors: ["409", "503"],
          },
        },
        "/api/v1/vms/{id}/resize": {
          post: {
            summary:
              "Resize a VM (vm:operate): vCPUs and memory only while stopped, the disk only grows (online on a running VM). " +
              "The difference is claimed on the VM's host atomically: 409 with the reason when it does not fit (nothing changes), " +
              "or above the host's vCPU limit for the arch",
            body: resizeVmSchema,
            ok: "Vm",
            errors: ["409", "503"],
          },
        },
        "/api/v1/vms/{id}/media": {
          get: { summary: "The ISO in the VM's CD drive (image null: empty)", ok: "VmMedia" },
          post: {
            summary:
              "Insert an ISO into the VM's CD drive (vm:operate; live on a running VM): an ISO image of the VM's architecture you may see",
            body: insertMediaSchema,
            ok: "VmMedia",
            errors: ["409", "422", "503"],
          },
          delete: { summary: "Eject the VM's CD drive (vm:operate)", ok: "VmMedia", errors: ["409", "503"] },
        },
      }),
      ...paths("placement", {
        "/api/v1/placement/preview": {
          post: {
            summary: "Where a VM would land, and why every other host was rejected",
            body: placementRequestSchema,
            ok: "PlacementExplanation",
          },
        },
        "/api/v1/placement/capacity": {
          get: {
            summary:
              "Per architecture: hosts, native and emulated hosts, free capacity and the largest VM one host could take",
            ok: "PlacementCapacity",
          },
        },
      }),
      ...paths("networks", {
        "/api/v1/networks": {
          get: {
            summary: "List the shared networks and those of the caller's projects (admins: all)",
            query: networkListQuery,
            ok: "NetworkList",
          },
          post: {
            summary:
              "Create a network: in one of the caller's projects (operators) or shared, without projectId (admins only)",
            body: createNetworkSchema,
            status: 201,
            ok: "Network",
            errors: ["409"],
          },
        },
        "/api/v1/networks/{id}": {
          get: { summary: "One network (another project's answers 404)", ok: "Network" },
          patch: {
            summary:
              "Change a network (its project's operators, or admins; shared ones: admins); " +
              "CIDR, gateway and VLAN only while no NIC uses it",
            body: updateNetworkSchema,
            ok: "Network",
            errors: ["409"],
          },
          delete: {
            summary: "Delete an unused network (its project's operators, or admins; shared ones: admins)",
            ok: "Deleted",
            errors: ["409"],
          },
        },
      }),
      // Projects scope VMs (a VM outside the caller's projects answers 404); changes need project:manage (admins).
      ...paths("projects", {
        "/api/v1/projects": {
          get: {
            summary: "Admins: every project with its members. Others: the projects they are members of",
            ok: "ProjectList",
          },
          post: {
            summary: "Create a project (project:manage)",
            body: createProjectSchema,
            status: 201,
            ok: "Project",
            errors: ["409"],
          },
        },
        "/api/v1/projects/{id}": {
          get: { summary: "One project (404 unless a member or an admin)", ok: "Project" },
          patch: {
            summary: "Rename or describe a project (project:manage)",
            body: updateProjectSchema,
            ok: "Project",
            errors: ["409"],
          },
          delete: {
            summary:
              "Delete an empty project (project:manage); 409 while it has VMs, and always for the default project",
            ok: "Deleted",
            errors: ["409"],
          },
        },
        "/api/v1/projects/{id}/members": {
          post: {
            summary: "Add a member by userId or email (idempotent; project:manage)",
            body: projectMemberSchema,
            ok: { description: "{projectId, userId, added} (added: false when already a member)" },
          },
          delete: {
            summary: "Remove a member (?userId=… or ?email=…, or the same JSON body; project:manage)",
            query: z.object({ userId: z.string().optional(), email: z.string().optional() }),
            ok: { description: "{projectId, userId, removed: true}" },
          },
        },
      }),
      // Admin-defined VM sizes (ADR 050); VM create takes `instanceType` instead of vcpus/memoryMb/diskGb.
      ...paths("instance-types", {
        "/api/v1/instance-types": {
          get: {
            summary:
              "Every instance type (any role); ?arch= keeps those a VM of that arch may use (arch null or equal)",
            query: instanceTypeListQuery,
            ok: "InstanceTypeList",
          },
          post: {
            summary: "Create an instance type (instanceType:manage: admins)",
            body: createInstanceTypeSchema,
            status: 201,
            ok: "InstanceType",
            errors: ["409"],
          },
        },
        "/api/v1/instance-types/{id}": {
          get: { summary: "One instance type", ok: "InstanceType" },
          patch: {
            summary: "Change an instance type (admins); VMs created before keep their sizes",
            body: updateInstanceTypeSchema,
            ok: "InstanceType",
            errors: ["409"],
          },
          delete: {
            summary:
              "Delete an instance type (admins); VMs created from it keep their sizes, their instanceTypeId becomes null",
            ok: "Deleted",
          },
        },
      }),
      // Security groups (issue 18, ADR 052): stateful allow rules on the VMs' ports, changed live.
      ...paths("security-groups", {
        "/api/v1/security-groups": {
          get: {
            summary: "The security groups of the caller's projects (admins: all); ?projectId= filters",
            ok: "SecurityGroupList",
          },
          post: {
            summary: "Create a group (operators of the project, admins); it starts with one rule: all outbound allowed",
            body: createSecurityGroupSchema,
            status: 201,
            ok: "SecurityGroup",
            errors: ["409"],
          },
        },
        "/api/v1/security-groups/{id}": {
          get: { summary: "One security group with its rules", ok: "SecurityGroup" },
          delete: {
            summary: "Delete a group no VM is in (409 otherwise)",
            ok: { description: "{id, deleted: true, sync}" },
            errors: ["409"],
          },
        },
        "/api/v1/security-groups/{id}/rules": {
          get: { summary: "The group's rules", ok: "SecurityGroupRuleList" },
          post: {
            summary: "Add an allow rule; the ports of the group's VMs change live (the answer's sync says how many)",
            body: createSecurityGroupRuleSchema,
            status: 201,
            ok: { description: "the rule with sync: {applied, failed}" },
          },
        },
        "/api/v1/security-groups/{id}/rules/{ruleId}": {
          delete: {
            summary: "Remove a rule; established connections stay, new ones meet the rules left",
            ok: { description: "{id, deleted: true, sync}" },
          },
        },
        "/api/v1/vms/{id}/security-groups": {
          get: { summary: "The VM's security groups", ok: "VmSecurityGroups" },
          put: {
            summary: "Set the VM's groups (of its own project; vm:operate); its ports change live, no restart",
            body: setVmSecurityGroupsSchema,
            ok: { description: "{vmId, securityGroupIds, sync: {applied, failed}}" },
          },
        },
      }),
      // Routers and floating IPs (issue 18, ADR 059): a network's way out (SNAT) and in (floating IPs).
      ...paths("routers", {
        "/api/v1/external-networks": {
          get: { summary: "The external (provider) networks; everyone signed in", ok: "ExternalNetworkList" },
          post: {
            summary:
              "Define an external network (admins): CIDR, optional upstream gateway, pool for floating IPs and routers",
            body: createExternalNetworkSchema,
            status: 201,
            ok: "ExternalNetwork",
            errors: ["409"],
          },
        },
        "/api/v1/external-networks/{id}": {
          get: { summary: "One external network with its pool usage", ok: "ExternalNetwork" },
          delete: {
            summary: "Delete one no router or floating IP uses (admins; 409 otherwise)",
            ok: "Deleted",
            errors: ["409"],
          },
        },
        "/api/v1/routers": {
          get: { summary: "Routers of the networks the caller sees, each with its per-host ports", ok: "RouterList" },
          post: {
            summary: "Give a network a router to an external network (who may change the network); one per network",
            body: createRouterSchema,
            status: 201,
            ok: "Router",
            errors: ["409"],
          },
        },
        "/api/v1/routers/{id}": {
          get: { summary: "One router with its per-host ports (address, state, error)", ok: "Router" },
          patch: { summary: "Rename, or switch SNAT on or off", body: updateRouterSchema, ok: "Router" },
          delete: {
            summary: "Delete a router no floating IP is mapped through (409 otherwise)",
            ok: "Deleted",
            errors: ["409"],
          },
        },
        "/api/v1/floating-ips": {
          get: {
            summary: "The floating IPs of the caller's projects (admins: all); ?projectId= filters",
            ok: "FloatingIpList",
          },
          post: {
            summary:
              "Allocate a floating IP for a project (operators of the project, admins), optionally mapped to a NIC",
            body: createFloatingIpSchema,
            status: 201,
            ok: "FloatingIp",
            errors: ["409"],
          },
        },
        "/api/v1/floating-ips/{id}": {
          get: { summary: "One floating IP and what it maps to", ok: "FloatingIp" },
          patch: {
            summary:
              "Map to a NIC of the project's VMs whose network has a router to its external network, or unmap (nicId null)",
            body: updateFloatingIpSchema,
            ok: "FloatingIp",
            errors: ["409"],
          },
          delete: { summary: "Release the address back to the pool", ok: "Deleted" },
        },
      }),
      ...paths("users", {
        "/api/v1/account/locale": {
          put: {
            summary: "Save the signed-in user's console language on their account (and the locale cookie); ADR 051",
            body: setLocaleSchema,
            ok: { description: "{locale}" },
          },
        },
        "/api/v1/users": {
          get: { summary: "Every user (user:manage)", ok: "UserList" },
          post: {
            summary: "Create a user (user:manage)",
            body: createUserSchema,
            status: 201,
            ok: { description: "{id}" },
            errors: ["409"],
          },
        },
        "/api/v1/users/{id}": {
          patch: {
            summary: "Change role, disable or reset the password (user:manage)",
            body: updateUserSchema,
            ok: { description: "{ok: true}" },
            errors: ["409"],
          },
        },
      }),
      ...paths("audit", {
        "/api/v1/audit": {
          get: { summary: "The audit log, newest first (audit:read)", query: auditListQuery, ok: "AuditList" },
        },
      }),
      ...paths("dashboard", {
        "/api/v1/summary": {
          get: {
            summary:
              "Counts per architecture and status, capacity per architecture (allocation ratios and reservations applied), task activity",
            ok: "Summary",
          },
        },
      }),
      ...paths("events", {
        "/api/v1/events": {
          get: {
            summary: "Tasks of the VMs you may see, filtered, newest first",
            query: eventListQuery,
            ok: "TaskEventList",
          },
        },
      }),
      ...paths("notifications", {
        "/api/v1/notifications": {
          get: { summary: "The caller's unread failed tasks (count and the newest few)", ok: "Notifications" },
        },
        "/api/v1/notifications/read": {
          post: {
            summary:
              "Mark the caller's failed-task notifications read (up to `upTo`, default now); the body may be empty",
            body: markNotificationsReadSchema,
            optionalBody: true,
            ok: "Notifications",
          },
        },
      }),
      ...paths("meta", {
        "/api/v1/openapi.json": { get: { summary: "This document (public)", public: true, ok: "OpenApiDocument" } },
      }),
    },
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer" },
        cookie: { type: "apiKey", in: "cookie", name: "better-auth.session_token" },
      },
      schemas: componentSchemas(),
    },
  };
}
