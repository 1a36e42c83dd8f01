import { NextResponse } from "next/server";
import { registerRequestSchema } from "@/lib/schemas/agent-api";
import { errorResponse, readJson } from "@/lib/server/platform";
import { registerHost, requireAgentChannel } from "@/lib/server/hosts";
import { clientIpFrom } from "@/lib/server/identity";

// Authenticated by a join token in the body (checked in registerHost); only on the agent TLS port
// (ADR 025), whose verified client certificate proves a re-registering host is the same one.
export async function POST(req: Request) {
  try {
    const channel = requireAgentChannel(req);
    const input = await readJson(req, registerRequestSchema);
    return NextResponse.json(await registerHost(input, clientIpFrom(req.headers), channel));
  } catch (error) {
    return errorResponse(error, { route: "agent.register" });
  }
}
