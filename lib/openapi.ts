// Builds the OpenAPI 3.1 document from the zod schemas the API itself validates with (zod 4's
// native JSON Schema output), so the document cannot drift from the code.
import { z } from "zod";
import { errorSchema, hostDtoSchema, imageDtoSchema, listOf, vmDtoSchema } from "./schemas/api";
import { hostListQuery, imageListQuery, vmListQuery } from "./schemas/entities";
import { networkDtoSchema, networkListQuery } from "./schemas/networks";
import { createVmSchema, vmActionRequestSchema } from "./schemas/vms";
import { consoleTicketRequestSchema } from "./schemas/console";
import { imageEvictRequestSchema, imageHostDtoSchema } from "./schemas/host-images";
import { placementRequestSchema } from "./scheduler/schema";
import { createProjectSchema, projectDtoSchema, projectMemberSchema, updateProjectSchema } from "./schemas/projects";
import { eventListQuery } from "./schemas/entities";
import { markNotificationsReadSchema, notificationsDtoSchema, summaryDtoSchema, taskEventDtoSchema } from "./schemas/events";
import { hostMetricsDtoSchema, metricsQuerySchema, vmMetricsDtoSchema } from "./schemas/metrics";

const json = (schema: z.ZodType) => z.toJSONSchema(schema, { io: "output", unrepresentable: "any", target: "draft-2020-12" });

function queryParams(schema: z.ZodObject) {
  const js = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as { properties?: Record<string, unknown> };
  return Object.entries(js.properties ?? {}).map(([name, s]) => ({ name, in: "query", required: false, schema: s }));
}

const errors = {
  "400": { description: "Invalid input", content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } },
  "401": { description: "Not signed in", content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } },
  "403": { description: "Role lacks the permission", content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } },
};

function listPath(tag: string, item: string, query: z.ZodObject) {
  return {
    get: {
      tags: [tag], summary: `List ${tag}`, parameters: queryParams(query),
      responses: { "200": { description: "A page", content: { "application/json": { schema: { $ref: `#/components/schemas/${item}List` } } } }, ...errors },
    },
  };
}

function itemPath(tag: string, item: string) {
  return {
    get: {
      tags: [tag], summary: `Get one of ${tag}`,
      parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
      responses: { "200": { description: item, content: { "application/json": { schema: { $ref: `#/components/schemas/${item}` } } } }, "404": { description: "Not found" }, ...errors },
    },
  };
}

function postPath(tag: string, summary: string, body: z.ZodType, status = "200") {
  return {
    post: {
      tags: [tag], summary,
      requestBody: { required: true, content: { "application/json": { schema: z.toJSONSchema(body, { io: "input", unrepresentable: "any" }) } } },
      responses: { [status]: { description: "Accepted" }, "409": { description: "Conflict (e.g. no host can take it; the message says why)" }, "422": { description: "Valid JSON, but not possible (e.g. image/arch mismatch)" }, ...errors },
    },
  };
}

function metricsPath(tag: string, item: string, summary: string) {
  return {
    get: {
      tags: [tag], summary,
      parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }, ...queryParams(metricsQuerySchema)],
      responses: { "200": { description: item, content: { "application/json": { schema: { $ref: `#/components/schemas/${item}` } } } }, "404": { description: "Not found" }, ...errors },
    },
  };
}

/** Projects scope VMs (a VM outside the caller's projects answers 404); changes need project:manage (admins). */
function projectPaths() {
  const id = { name: "id", in: "path", required: true, schema: { type: "string" } };
  const body = (schema: z.ZodType) => ({ required: true, content: { "application/json": { schema: z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) } } });
  const one = { description: "Project", content: { "application/json": { schema: { $ref: "#/components/schemas/Project" } } } };
  return {
    "/api/v1/projects": {
      get: { tags: ["projects"], summary: "Admins: every project with its members. Others: the projects they are members of", responses: { "200": { description: "Projects", content: { "application/json": { schema: { $ref: "#/components/schemas/ProjectList" } } } }, ...errors } },
      post: { tags: ["projects"], summary: "Create a project (project:manage)", requestBody: body(createProjectSchema), responses: { "201": one, "409": { description: "Name taken" }, ...errors } },
    },
    "/api/v1/projects/{id}": {
      get: { tags: ["projects"], summary: "One project (404 unless a member or an admin)", parameters: [id], responses: { "200": one, "404": { description: "Not found" }, ...errors } },
      patch: { tags: ["projects"], summary: "Rename or describe a project (project:manage)", parameters: [id], requestBody: body(updateProjectSchema), responses: { "200": one, "404": { description: "Not found" }, "409": { description: "Name taken" }, ...errors } },
      delete: { tags: ["projects"], summary: "Delete an empty project (project:manage); 409 while it has VMs, and always for the default project", parameters: [id], responses: { "200": { description: "Deleted" }, "404": { description: "Not found" }, "409": { description: "Not empty, or the default project" }, ...errors } },
    },
    "/api/v1/projects/{id}/members": {
      post: { tags: ["projects"], summary: "Add a member by userId or email (idempotent; project:manage)", parameters: [id], requestBody: body(projectMemberSchema), responses: { "200": { description: "Added (added: false when already a member)" }, "404": { description: "No such project or user" }, ...errors } },
      delete: {
        tags: ["projects"], summary: "Remove a member (?userId=… or ?email=…, or the same JSON body; project:manage)",
        parameters: [id, { name: "userId", in: "query", required: false, schema: { type: "string" } }, { name: "email", in: "query", required: false, schema: { type: "string" } }],
        responses: { "200": { description: "Removed" }, "404": { description: "No such project, user or membership" }, ...errors },
      },
    },
  };
}

export function buildOpenApi(serverUrl: string) {
  return {
    openapi: "3.1.0",
    info: { title: "Polyarch API", version: "1", description: "Hosts, images and VMs of a mixed x86_64 + aarch64 private cloud. Authenticate with a session cookie or `Authorization: Bearer <personal API token>`. Architecture parameters accept aliases (amd64, x64, arm64, …) and responses use the canonical x86_64 / aarch64." },
    servers: [{ url: serverUrl }],
    security: [{ bearer: [] }, { cookie: [] }],
    paths: {
      "/api/v1/hosts": listPath("hosts", "Host", hostListQuery),
      "/api/v1/hosts/{id}": itemPath("hosts", "Host"),
      "/api/v1/hosts/{id}/rotate-token": {
        post: {
          tags: ["hosts"], summary: "New host token (host:manage): the old one is refused at once; the agent gets the new one over mutual TLS (delivered: false when it could not be reached; it then re-joins)",
          parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
          responses: { "200": { description: "{hostId, generation, delivered, message}" }, "404": { description: "Not found" }, "409": { description: "Revoked or never registered" }, ...errors },
        },
      },
      "/api/v1/hosts/{id}/revoke": {
        post: {
          tags: ["hosts"], summary: "Revoke a host (host:manage): token and certificate refused, the controller stops calling it, its VMs become unknown; it re-joins only with a join token created afterwards",
          parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
          responses: { "200": { description: "{hostId, revokedAt, message}" }, "404": { description: "Not found" }, ...errors },
        },
      },
      "/api/v1/hosts/{id}/metrics": metricsPath("hosts", "HostMetrics", "CPU % (0..100 over all cores) and memory used of the host, oldest first (60 minutes kept)"),
      "/api/v1/images": listPath("images", "Image", imageListQuery),
      "/api/v1/images/{id}": itemPath("images", "Image"),
      "/api/v1/images/{id}/hosts": {
        get: {
          tags: ["images"], summary: "Hosts holding a cached copy of the image (state, size, in use)",
          parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
          responses: { "200": { description: "Per host", content: { "application/json": { schema: { $ref: "#/components/schemas/ImageHostList" } } } }, "404": { description: "Not found" }, ...errors },
        },
      },
      "/api/v1/images/{id}/evict": postPath("images", "Remove the image's cached copy from one host (refused while a VM there uses it)", imageEvictRequestSchema),
      "/api/v1/vms": { ...listPath("vms", "Vm", vmListQuery), ...postPath("vms", "Create a VM (placed by the scheduler; follow its task)", createVmSchema, "202") },
      "/api/v1/vms/{id}/actions": postPath("vms", "start | stop | reboot | poweroff | retry", vmActionRequestSchema),
      "/api/v1/vms/{id}/console-ticket": postPath("vms", "A 30-second single-use ticket for the serial console WebSocket GET /api/v1/vms/{id}/console?ticket=… or, with kind \"vnc\", the graphical console (RFB over WebSocket) GET /api/v1/vms/{id}/vnc?ticket=… (409 when the VM has no display; write only with console:write)", consoleTicketRequestSchema),
      "/api/v1/placement/preview": postPath("placement", "Where a VM would land, and why every other host was rejected", placementRequestSchema),
      "/api/v1/vms/{id}": itemPath("vms", "Vm"),
      "/api/v1/vms/{id}/metrics": metricsPath("vms", "VmMetrics", "CPU % (100 = one host core) and resident memory of the VM's QEMU process, oldest first (60 minutes kept)"),
      "/api/v1/networks": listPath("networks", "Network", networkListQuery),
      ...projectPaths(),
      "/api/v1/networks/{id}": itemPath("networks", "Network"),
      "/api/v1/summary": {
        get: { tags: ["dashboard"], summary: "Counts per architecture and status, capacity per architecture (allocation ratios and reservations applied), task activity", responses: { "200": { description: "Summary", content: { "application/json": { schema: { $ref: "#/components/schemas/Summary" } } } }, ...errors } },
      },
      "/api/v1/events": listPath("events", "TaskEvent", eventListQuery),
      "/api/v1/notifications": {
        get: { tags: ["notifications"], summary: "The caller's unread failed tasks (count and the newest few)", responses: { "200": { description: "Unread", content: { "application/json": { schema: { $ref: "#/components/schemas/Notifications" } } } }, ...errors } },
      },
      "/api/v1/notifications/read": {
        post: {
          tags: ["notifications"], summary: "Mark the caller's failed-task notifications read (up to `upTo`, default now); the body may be empty",
          requestBody: { required: false, content: { "application/json": { schema: z.toJSONSchema(markNotificationsReadSchema, { io: "input", unrepresentable: "any" }) } } },
          responses: { "200": { description: "What is still unread", content: { "application/json": { schema: { $ref: "#/components/schemas/Notifications" } } } }, ...errors },
        },
      },
    },
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" }, cookie: { type: "apiKey", in: "cookie", name: "better-auth.session_token" } },
      schemas: {
        Error: json(errorSchema),
        Host: json(hostDtoSchema), HostList: json(listOf(hostDtoSchema)),
        Image: json(imageDtoSchema), ImageList: json(listOf(imageDtoSchema)),
        ImageHostList: json(z.object({ items: z.array(imageHostDtoSchema) })),
        Vm: json(vmDtoSchema), VmList: json(listOf(vmDtoSchema)),
        HostMetrics: json(hostMetricsDtoSchema), VmMetrics: json(vmMetricsDtoSchema),
        Network: json(networkDtoSchema), NetworkList: json(listOf(networkDtoSchema)),
        Project: json(projectDtoSchema), ProjectList: json(z.object({ items: z.array(projectDtoSchema), total: z.number().int() })),
        TaskEvent: json(taskEventDtoSchema), TaskEventList: json(listOf(taskEventDtoSchema)),
        Notifications: json(notificationsDtoSchema), Summary: json(summaryDtoSchema),
      },
    },
  };
}
