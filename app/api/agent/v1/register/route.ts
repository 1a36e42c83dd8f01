import { NextResponse } from "next/server";
import { registerRequestSchema } from "@/lib/schemas/agent-api";
import { errorResponse, readJson } from "@/lib/server/http";
import { registerHost } from "@/lib/server/fleet";
import { clientIpFrom } from "@/lib/server/guard";

// Authenticated by the cluster join token in the body (checked in registerHost).
export async function POST(req: Request) {
  try {
    const input = await readJson(req, registerRequestSchema);
    return NextResponse.json(await registerHost(input, clientIpFrom(req.headers)));
  } catch (error) {
    return errorResponse(error, { route: "agent.register" });
  }
}
