// Status vocabularies and list-query schemas per entity, shared by pages and the JSON API.
import { z } from "zod";
import { listQuerySchema } from "./list";

export const HOST_STATUSES = ["online", "offline", "maintenance", "disabled"] as const;
export const HOST_ADMIN_STATES = ["enabled", "maintenance", "disabled"] as const;
export const IMAGE_STATUSES = ["pending", "uploading", "validating", "ready", "error"] as const;
export const IMAGE_FORMATS = ["qcow2", "raw", "iso", "kernel"] as const;
export const VM_STATUSES = ["pending", "scheduling", "creating", "running", "stopped", "error", "deleting", "unknown"] as const;

export const hostListQuery = listQuerySchema(["name", "arch", "status", "cpuCount", "memoryMb", "createdAt"] as const, HOST_STATUSES);
export const imageListQuery = listQuerySchema(["name", "arch", "status", "format", "sizeBytes", "createdAt"] as const, IMAGE_STATUSES);
export const vmListQuery = listQuerySchema(["name", "arch", "status", "vcpus", "memoryMb", "createdAt"] as const, VM_STATUSES).extend({
  hostId: z.string().max(64).optional(),
});
export const auditListQuery = listQuerySchema(["createdAt", "action", "result"] as const, ["success", "denied", "error"] as const);
