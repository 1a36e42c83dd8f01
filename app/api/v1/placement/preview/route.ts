import { apiRoute, readJson } from "@/lib/server/http";
import { placementRequestSchema } from "@/lib/scheduler/schema";
import { previewPlacement } from "@/lib/server/placement";

// The same explanation the wizard shows: chosen host, eligible count, each rejected host's reasons.
export const POST = apiRoute({ permission: "read", action: "placement.preview" }, async ({ req }) => previewPlacement(await readJson(req, placementRequestSchema)));
