import { apiRoute } from "@/lib/server/web";
import { readJson } from "@/lib/server/platform";
import { placementRequestSchema } from "@/lib/scheduler/schema";
import { previewPlacement } from "@/lib/server/vms";

// The same explanation the wizard shows: chosen host, eligible count, each rejected host's reasons.
export const POST = apiRoute({ permission: "read", action: "placement.preview" }, async ({ req }) =>
  previewPlacement(await readJson(req, placementRequestSchema)),
);
