import { NextResponse } from "next/server";
import { heartbeatRequestSchema } from "@/lib/schemas/agent-api";
import { errorResponse, readJson } from "@/lib/server/platform";
import { authenticateHost } from "@/lib/server/hosts";
import { recordHeartbeat } from "@/lib/server/vms";

// Authenticated by the host token (Bearer); a host can only report about itself.
export async function POST(req: Request) {
  try {
    const host = await authenticateHost(req, { allowPending: true });
    const input = await readJson(req, heartbeatRequestSchema, 8 * 1024 * 1024);
    return NextResponse.json(await recordHeartbeat(host.id, input));
  } catch (error) {
    return errorResponse(error, { route: "agent.heartbeat" });
  }
}
