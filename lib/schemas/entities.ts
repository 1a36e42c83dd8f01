// Status vocabularies and list-query schemas per entity, shared by pages and the JSON API. The vocabularies
// themselves live in ./statuses (no zod) so list components can use them without the validator.
import { z } from "zod";
import { listQuerySchema } from "./list";
import { HOST_STATUSES, IMAGE_STATUSES, TASK_RESULTS, VM_STATUSES } from "./statuses";

export {
  HOST_ADMIN_STATES,
  HOST_STATUSES,
  IMAGE_FORMATS,
  IMAGE_STATUSES,
  TASK_RESULTS,
  TASK_STATUSES,
  VM_STATUSES,
} from "./statuses";

export const hostListQuery = listQuerySchema(
  ["name", "arch", "status", "cpuCount", "memoryMb", "createdAt"] as const,
  HOST_STATUSES,
);
export const imageListQuery = listQuerySchema(
  ["name", "arch", "status", "format", "sizeBytes", "createdAt"] as const,
  IMAGE_STATUSES,
);
export const vmListQuery = listQuerySchema(
  ["name", "arch", "status", "vcpus", "memoryMb", "createdAt"] as const,
  VM_STATUSES,
).extend({
  hostId: z.string().max(64).optional(),
  projectId: z.string().max(64).optional(),
});
export const auditListQuery = listQuerySchema(
  ["createdAt", "action", "result"] as const,
  ["success", "denied", "error"] as const,
);

const optionalInstant = (name: string) =>
  z
    .string()
    .trim()
    .max(40)
    .optional()
    .transform((v, ctx) => {
      if (!v) return undefined;
      const d = new Date(v);
      if (!/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(d.getTime())) {
        ctx.addIssue({ code: "custom", message: `${name} must be an ISO 8601 date or date-time` });
        return z.NEVER;
      }
      return d;
    });

/** GET /api/v1/events: tasks filtered by VM, host, user, result and time range (createdAt), newest first. */
export const eventListQuery = listQuerySchema(["createdAt", "finishedAt", "kind", "status"] as const, TASK_RESULTS)
  .extend({
    dir: z.enum(["asc", "desc"], { error: "dir must be asc or desc" }).default("desc"),
    vmId: z.string().max(64).optional(),
    vm: z.string().trim().max(100, "vm is at most 100 characters").optional().describe("VM name contains"),
    hostId: z.string().max(64).optional(),
    host: z.string().trim().max(100, "host is at most 100 characters").optional().describe("host name contains"),
    userId: z.string().max(64).optional(),
    user: z
      .string()
      .trim()
      .max(100, "user is at most 100 characters")
      .optional()
      .describe("email of who started it contains"),
    from: optionalInstant("from").describe("created at or after (ISO 8601)"),
    to: optionalInstant("to").describe("created before (ISO 8601)"),
  })
  .refine((q) => !q.from || !q.to || q.from <= q.to, { message: "from must not be after to", path: ["from"] });
