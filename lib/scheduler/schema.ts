// Input schema for a placement (create-VM wizard, preview endpoint). Accepts arch aliases (arm64, amd64…).
import { z } from "zod";
import { ARCHES, archSchema } from "../arch";

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
  strategy: z
    .enum(STRATEGY_NAMES, { error: `strategy must be one of: ${STRATEGY_NAMES.join(", ")}` })
    .default("spread"),
});

export type PlacementRequestInput = z.input<typeof placementRequestSchema>;
/** Parsed request; assignable to PlacementRequest. */
export type ParsedPlacementRequest = z.output<typeof placementRequestSchema>;

const hostRef = { id: z.string(), name: z.string(), arch: z.enum(ARCHES) };

/** POST /api/v1/placement/preview: where a VM would land, and why every other host was rejected. */
export const placementExplanationSchema = z.object({
  ok: z.boolean(),
  arch: z.enum(ARCHES),
  reason: z.string().nullable().describe("why nothing fits (only when ok is false)"),
  eligibleCount: z.number().int(),
  chosen: z
    .object({
      ...hostRef,
      emulated: z.boolean(),
      kvm: z.boolean().describe("false: the host has no KVM, so even a native VM runs in software (TCG)"),
      runsAs: z.string().describe('how the VM would run there, in words (ADR 003): "natively with KVM", …'),
    })
    .nullable(),
  eligible: z
    .array(z.object({ ...hostRef, emulated: z.boolean(), score: z.number() }))
    .describe("best first, as the weighers ranked them"),
  rejected: z.array(z.object({ ...hostRef, reasons: z.array(z.string()) })),
});
export type PlacementExplanation = z.output<typeof placementExplanationSchema>;

/** Per-arch totals for the wizard's architecture step ("aarch64: 3 hosts, 48 vCPUs free"). */
export const archCapacitySchema = z.object({
  arch: z.enum(ARCHES),
  hosts: z.number().int().describe("hosts whose own CPU is this arch"),
  hostsOnline: z.number().int().describe("of those, online and enabled"),
  nativeHosts: z.number().int().describe("schedulable hosts (online, enabled) that run this arch with KVM"),
  emulatedHosts: z.number().int().describe("schedulable hosts that can run it only under TCG"),
  vcpuFree: z.number().int().describe("summed over nativeHosts"),
  memoryFreeMb: z.number().int(),
  diskFreeGb: z.number().int(),
  largestVcpuFree: z
    .number()
    .int()
    .describe("the biggest VM one native host could still take (capped by its KVM vCPU limit)"),
  largestMemoryFreeMb: z.number().int(),
});
export type ArchCapacity = z.output<typeof archCapacitySchema>;

/** GET /api/v1/placement/capacity */
export const placementCapacitySchema = z.object({ x86_64: archCapacitySchema, aarch64: archCapacitySchema });
export type PlacementCapacity = z.output<typeof placementCapacitySchema>;
