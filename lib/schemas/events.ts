// Response and request shapes of the events, notifications and summary endpoints (shared by the
// route handlers, the UI's types and the OpenAPI document).
import { z } from "zod";
import { ARCHES } from "../arch";
import { TASK_STATUSES } from "./entities";
import { timestamp as ts } from "./dto";

const arch = z.enum(ARCHES);

export const taskEventDtoSchema = z.object({
  id: z.string(),
  kind: z.string().describe("vm.create | vm.start | vm.stop | vm.reboot | vm.poweroff | vm.delete | …"),
  status: z.enum(TASK_STATUSES),
  error: z.string().nullable(),
  createdAt: ts,
  startedAt: ts.nullable(),
  finishedAt: ts.nullable(),
  vm: z.object({ id: z.string(), name: z.string(), arch }).nullable().describe("null once the VM is deleted"),
  host: z.object({ id: z.string(), name: z.string(), arch }).nullable(),
  user: z.object({ id: z.string(), email: z.string() }).nullable().describe("who started it"),
});
export type TaskEventDto = z.infer<typeof taskEventDtoSchema>;
/** What lib/server/insights hands over (Dates) before toJsonSafe makes it a TaskEventDto. */
export type TaskEventSource = z.input<typeof taskEventDtoSchema>;

export const notificationsDtoSchema = z.object({
  unread: z.number().int().describe("failed tasks that finished after seenUpTo"),
  seenUpTo: ts,
  items: z.array(taskEventDtoSchema).describe("the newest unread failed tasks (at most 20)"),
});
export type NotificationsDto = z.infer<typeof notificationsDtoSchema>;

export const markNotificationsReadSchema = z
  .object({
    upTo: z.iso
      .datetime({ offset: true, error: "upTo must be an ISO 8601 date-time" })
      .optional()
      .describe("mark failures up to this finish time as read (default: now); the marker never moves backwards"),
  })
  .strict();

const capacitySchema = z.object({
  hosts: z.number().int(),
  cpus: z.number().int().describe("physical CPUs"),
  memoryMb: z.number().int().describe("physical RAM"),
  allocatedCpus: z.number().int(),
  allocatedMemoryMb: z.number().int(),
  vcpuTotal: z.number().int().describe("Σ floor(cpus × cpu ratio) − reserved, as the scheduler counts"),
  vcpuUsed: z.number().int(),
  vcpuFree: z.number().int(),
  memoryTotalMb: z.number().int().describe("Σ floor(RAM × ram ratio) − reserved"),
  memoryUsedMb: z.number().int(),
  memoryFreeMb: z.number().int(),
  schedulable: z
    .object({ hosts: z.number().int(), vcpuFree: z.number().int(), memoryFreeMb: z.number().int() })
    .describe("only hosts a new VM can land on now (online and enabled)"),
});

const countsByArch = z.object({
  x86_64: z.record(z.string(), z.number().int()),
  aarch64: z.record(z.string(), z.number().int()),
});

export const summaryDtoSchema = z.object({
  hosts: countsByArch,
  vms: countsByArch,
  images: countsByArch,
  capacity: z.object({ x86_64: capacitySchema, aarch64: capacitySchema }),
  tasks: z.object({
    running: z.number().int(),
    failedLast24h: z.number().int(),
    recent: z.array(taskEventDtoSchema),
    failed: z.array(taskEventDtoSchema),
  }),
});
export type SummaryDto = z.infer<typeof summaryDtoSchema>;
