import { apiRoute } from "@/lib/server/web";
import { parseQuery } from "@/lib/server/platform";
import { hostMetrics } from "@/lib/server/insights";
import { metricsQuerySchema } from "@/lib/schemas/metrics";

// CPU / memory history of a host (?minutes=1..60, default 15), oldest sample first.
export const GET = apiRoute<{ id: string }>(
  { permission: "read", action: "host.metrics", targetType: "host" },
  ({ req, params }) => hostMetrics(params.id, parseQuery(req, metricsQuerySchema).minutes),
);
