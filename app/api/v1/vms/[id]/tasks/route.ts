import { apiRoute } from "@/lib/server/http";
import { listTasksForVm } from "@/lib/server/tasks";

export const GET = apiRoute<{ id: string }>({ permission: "read", action: "vm.tasks", targetType: "vm" }, async ({ params }) => ({ items: await listTasksForVm(params.id) }));
