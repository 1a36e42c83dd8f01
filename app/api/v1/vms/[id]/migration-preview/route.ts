import { apiRoute } from "@/lib/server/web";
import { migrationPreview } from "@/lib/server/mobility";

// Per host: can the VM move there, and every reason it cannot (ADR 037).
export const GET = apiRoute<{ id: string }>(
  { permission: "read", action: "vm.migration-preview", targetType: "vm" },
  async ({ params, actor }) => migrationPreview(params.id, actor),
);
