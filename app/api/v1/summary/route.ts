import { apiRoute } from "@/lib/server/web";
import { dashboardSummary } from "@/lib/server/insights";
import { imageScopeFor } from "@/lib/server/images";
import { taskScopeFor, vmScopeFor } from "@/lib/server/vms";

// Counts per arch and status, capacity per arch (ratios and reservations applied), task activity;
// VM counts and tasks only of the VMs the caller may see, image counts only of the images they may see.
export const GET = apiRoute({ permission: "read", action: "dashboard.read" }, async ({ actor }) =>
  dashboardSummary({ vm: await vmScopeFor(actor), image: await imageScopeFor(actor), task: await taskScopeFor(actor) }),
);
