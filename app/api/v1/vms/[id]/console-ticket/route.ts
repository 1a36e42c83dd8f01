import { apiRoute } from "@/lib/server/web";
import { readJson } from "@/lib/server/platform";
import { consoleTicketRequestSchema } from "@/lib/schemas/console";
import { issueConsoleTicket } from "@/lib/server/consoles";

// A short-lived, single-use ticket for the serial or VNC console WebSocket (served by the custom server, server/console-proxy.ts).
export const POST = apiRoute<{ id: string }>(
  { permission: "read", action: "vm.console", targetType: "vm" },
  async ({ req, params, actor, clientIp }) => {
    const { write, kind } = await readJson(req, consoleTicketRequestSchema);
    return issueConsoleTicket(params.id, actor, write, clientIp, kind);
  },
);
