// Per-host image cache as the console sees it: GET /api/v1/images/:id/hosts and the evict request.
import { z } from "zod";
import { ARCHES } from "../arch";
import { hostImageStateSchema } from "./agent-api";

/** POST /api/v1/images/:id/evict */
export const imageEvictRequestSchema = z
  .object({ hostId: z.string().trim().min(1, "hostId is required").max(100) })
  .strict();
export type ImageEvictRequest = z.output<typeof imageEvictRequestSchema>;

export const imageHostDtoSchema = z.object({
  hostId: z.string(),
  hostName: z.string(),
  arch: z.enum(ARCHES),
  /** online | offline | … : an offline host's record is as of its last heartbeat */
  hostStatus: z.string(),
  state: hostImageStateSchema,
  sizeBytes: z.number().int(),
  /** a VM the controller placed on that host boots from it (eviction is refused) */
  inUse: z.boolean(),
  usedBy: z.array(z.object({ id: z.string(), name: z.string() })),
  updatedAt: z.iso.datetime(),
});
export type ImageHostDto = z.output<typeof imageHostDtoSchema>;

export const imageEvictResultSchema = z.object({
  imageId: z.string(),
  hostId: z.string(),
  evicted: z.boolean(),
  freedBytes: z.number().int(),
});
export type ImageEvictResult = z.output<typeof imageEvictResultSchema>;
