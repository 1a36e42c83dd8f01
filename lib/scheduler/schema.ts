// Input schema for a placement (create-VM wizard, preview endpoint). Accepts arch aliases (arm64, amd64…).
import { z } from "zod";
import { archSchema } from "../arch";

export const STRATEGY_NAMES = ["spread", "pack"] as const;

const int = (name: string, min: number, max: number, unit = "") =>
  z
    .number({ error: `${name} must be a number` })
    .int(`${name} must be a whole number`)
    .min(min, `${name} is at least ${min}${unit}`)
    .max(max, `${name} is at most ${max}${unit}`);

export const placementRequestSchema = z.object({
  arch: archSchema,
  vcpus: int("vcpus", 1, 256),
  memoryMb: int("memoryMb", 64, 1_048_576, " MiB"),
  diskGb: int("diskGb", 1, 65_536, " GiB"),
  allowEmulation: z.boolean().default(false),
  strategy: z.enum(STRATEGY_NAMES, { error: `strategy must be one of: ${STRATEGY_NAMES.join(", ")}` }).default("spread"),
});

export type PlacementRequestInput = z.input<typeof placementRequestSchema>;
/** Parsed request; assignable to PlacementRequest. */
export type ParsedPlacementRequest = z.output<typeof placementRequestSchema>;
