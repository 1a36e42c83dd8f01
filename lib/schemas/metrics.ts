// CPU / memory history of hosts and VMs: the query and response of
// GET /api/v1/hosts/{id}/metrics and GET /api/v1/vms/{id}/metrics (lib/server/insights/metrics.ts).
import { z } from "zod";
import { timestamp } from "./dto";

/** How much history the controller keeps (and so the most a query can ask for). */
export const METRICS_RETENTION_MINUTES = 60;

export const metricsQuerySchema = z.object({
  minutes: z.coerce
    .number({ error: "minutes must be a number" })
    .int("minutes must be a whole number")
    .min(1, "minutes is at least 1")
    .max(METRICS_RETENTION_MINUTES, `minutes is at most ${METRICS_RETENTION_MINUTES} (the history kept)`)
    .default(15)
    .describe("how many minutes of history, newest last"),
});

export const metricPointSchema = z.object({
  at: timestamp.describe("controller clock, when the heartbeat arrived"),
  cpuPct: z.number(),
  memUsedMb: z.number().int(),
});
export type MetricPoint = z.output<typeof metricPointSchema>;

export const hostMetricsDtoSchema = z.object({
  hostId: z.string(),
  minutes: z.number().int(),
  now: timestamp.describe("the controller's clock when it answered: the right edge of a chart"),
  /** host CPU % is 0..100 over all of its cores */
  cpuCount: z.number().int(),
  memTotalMb: z.number().int(),
  samples: z.array(metricPointSchema).describe("cpuPct: 0..100 over all cores; memUsedMb: MemTotal - MemAvailable"),
});
export type HostMetricsDto = z.output<typeof hostMetricsDtoSchema>;

export const vmMetricsDtoSchema = z.object({
  vmId: z.string(),
  minutes: z.number().int(),
  now: timestamp.describe("the controller's clock when it answered: the right edge of a chart"),
  vcpus: z.number().int(),
  memoryMb: z.number().int(),
  samples: z
    .array(metricPointSchema)
    .describe("cpuPct: the QEMU process, 100 = one host core; memUsedMb: its resident set (RSS)"),
});
export type VmMetricsDto = z.output<typeof vmMetricsDtoSchema>;
