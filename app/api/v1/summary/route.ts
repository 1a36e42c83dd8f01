import { apiRoute } from "@/lib/server/http";
import { dashboardSummary } from "@/lib/server/dashboard";
import { taskScopeFor, vmScopeFor } from "@/lib/server/vm-access";

// Counts per arch and status, capacity per arch (ratios and reservations applied), task activity;
// VM counts and tasks only of the VMs the caller may see.
export const GET = apiRoute({ permission: "read", action: "dashboard.read" }, async ({ actor }) =>
  dashboardSummary({ vm: await vmScopeFor(actor), task: await taskScopeFor(actor) }),
);
