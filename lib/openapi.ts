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

export function buildOpenApi(serverUrl: string) {
  return {
    openapi: "3.1.0",
    info: { title: "Polyarch API", version: "1", description: "Hosts, images and VMs of a mixed x86_64 + aarch64 private cloud. Authenticate with a session cookie or `Authorization: Bearer <personal API token>`. Architecture parameters accept aliases (amd64, x64, arm64, …) and responses use the canonical x86_64 / aarch64." },
    servers: [{ url: serverUrl }],
    security: [{ bearer: [] }, { cookie: [] }],
    paths: {
      "/api/v1/hosts": listPath("hosts", "Host", hostListQuery),
      "/api/v1/hosts/{id}": itemPath("hosts", "Host"),
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
      "/api/v1/vms/{id}/console-ticket": postPath("vms", "A 30-second single-use ticket for the serial console WebSocket GET /api/v1/vms/{id}/console?ticket=… (write only with console:write)", consoleTicketRequestSchema),
      "/api/v1/placement/preview": postPath("placement", "Where a VM would land, and why every other host was rejected", placementRequestSchema),
      "/api/v1/vms/{id}": itemPath("vms", "Vm"),
      "/api/v1/networks": listPath("networks", "Network", networkListQuery),
      "/api/v1/networks/{id}": itemPath("networks", "Network"),
    },
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" }, cookie: { type: "apiKey", in: "cookie", name: "better-auth.session_token" } },
      schemas: {
        Error: json(errorSchema),
        Host: json(hostDtoSchema), HostList: json(listOf(hostDtoSchema)),
        Image: json(imageDtoSchema), ImageList: json(listOf(imageDtoSchema)),
        ImageHostList: json(z.object({ items: z.array(imageHostDtoSchema) })),
        Vm: json(vmDtoSchema), VmList: json(listOf(vmDtoSchema)),
        Network: json(networkDtoSchema), NetworkList: json(listOf(networkDtoSchema)),
      },
    },
  };
}
