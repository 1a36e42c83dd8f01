import { apiRoute } from "@/lib/server/http";
import { dashboardSummary } from "@/lib/server/dashboard";

export const GET = apiRoute({ permission: "read", action: "dashboard.read" }, () => dashboardSummary());
