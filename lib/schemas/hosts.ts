import { z } from "zod";
import { HOST_ADMIN_STATES } from "./entities";

/** What an admin may change on a host: its admin state, overcommit ratios and reservations. */
export const updateHostSchema = z
  .object({
    adminState: z
      .enum(HOST_ADMIN_STATES, { error: `adminState must be one of: ${HOST_ADMIN_STATES.join(", ")}` })
      .optional(),
    cpuAllocationRatio: z
      .number()
      .min(0.1, "cpuAllocationRatio is at least 0.1")
      .max(64, "cpuAllocationRatio is at most 64")
      .optional(),
    ramAllocationRatio: z
      .number()
      .min(0.1, "ramAllocationRatio is at least 0.1")
      .max(4, "ramAllocationRatio is at most 4")
      .optional(),
    reservedCpus: z.number().int().min(0).max(4096).optional(),
    reservedMemoryMb: z
      .number()
      .int()
      .min(0)
      .max(16 * 1024 * 1024)
      .optional(),
    reservedDiskGb: z
      .number()
      .int()
      .min(0)
      .max(1024 * 1024)
      .optional(),
  })
  .strict();
