import { z } from "zod";
import { archSchema } from "../arch";
import { displayFits, displaySchema } from "../display";
import { vmNameSchema } from "./agent-api";
import { userDataSchema } from "./ssh-keys";

export const createVmSchema = z.object({
  name: vmNameSchema,
  arch: archSchema,
  /** an image id, or `family` (one name, a build per arch): exactly one of the two */
  imageId: z.string().min(1).max(64).optional(),
  family: z.string().min(1).max(100).optional(),
  vcpus: z.coerce.number().int("vCPUs must be a whole number").min(1, "at least 1 vCPU").max(256, "at most 256 vCPUs"),
  memoryMb: z.coerce.number().int().min(64, "at least 64 MiB of memory").max(1024 * 1024, "at most 1 TiB of memory"),
  diskGb: z.coerce.number().int().min(1, "at least 1 GiB of disk").max(65536, "at most 64 TiB of disk"),
  networkId: z.string().min(1).max(64).optional().nullable(),
  allowEmulation: z.coerce.boolean().default(false),
  strategy: z.enum(["spread", "pack"]).default("spread"),
  /** cloud-init user-data (#cloud-config or a script), delivered on the NoCloud seed */
  userData: userDataSchema.nullish(),
  /** the project the VM belongs to; absent = the creator's first project (they must be a member; admins: any) */
  projectId: z.string().trim().min(1).max(64).nullish(),
  /** graphical display; absent = the default for the arch and image (lib/display.ts) */
  display: displaySchema.optional(),
}).refine((v) => (v.imageId ? 1 : 0) + (v.family ? 1 : 0) === 1, { message: "give either imageId or family (an image family name), not both", path: ["imageId"] })
  .refine((v) => !v.display || displayFits(v.arch, v.display), { message: "this display is not available for the VM's architecture (x86_64: vga; aarch64: none, virtio-gpu, ramfb)", path: ["display"] });
export type CreateVmInput = z.output<typeof createVmSchema>;

export const VM_ACTIONS = ["start", "stop", "reboot", "poweroff", "retry"] as const;
export const vmActionRequestSchema = z.object({ action: z.enum(VM_ACTIONS, { error: `action must be one of: ${VM_ACTIONS.join(", ")}` }) });
export const vmIdSchema = z.object({ id: z.string().min(1).max(64) });
