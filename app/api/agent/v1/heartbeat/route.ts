import { NextResponse } from "next/server";
import { z } from "zod";
import { agentTlsChannel } from "@/lib/agent-tls";
import { errorResponse, readJson } from "@/lib/server/platform";
import { ingestHeartbeat, MAX_HEARTBEAT_BYTES } from "@/lib/server/vms";

// Authenticated by the host token (Bearer); a host can only report about itself. On the agent TLS
// port the custom server answers this path itself through the same ingestHeartbeat (ADR 043); this
// handler serves the other routes there (`next start`, tests, the hook not registered yet).
export async function POST(req: Request) {
  try {
    const answer = await ingestHeartbeat(req.headers.get("authorization"), agentTlsChannel(req.headers), () =>
      readJson(req, z.unknown(), MAX_HEARTBEAT_BYTES),
    );
    return NextResponse.json(answer);
  } catch (error) {
    return errorResponse(error, { route: "agent.heartbeat" });
  }
}
