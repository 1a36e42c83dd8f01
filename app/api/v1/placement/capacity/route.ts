import { apiRoute } from "@/lib/server/web";
import { fleetCapacity } from "@/lib/server/vms";

export const GET = apiRoute({ permission: "read", action: "placement.capacity" }, () => fleetCapacity());
