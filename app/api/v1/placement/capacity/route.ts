import { apiRoute } from "@/lib/server/http";
import { fleetCapacity } from "@/lib/server/placement";

export const GET = apiRoute({ permission: "read", action: "placement.capacity" }, () => fleetCapacity());
