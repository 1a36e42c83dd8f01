import { NextResponse } from "next/server";
import { registerRequestSchema } from "@/lib/schemas/agent-api";
import { errorResponse, readJson } from "@/lib/server/platform";
import { registerHost } from "@/lib/server/hosts";
import { clientIpFrom } from "@/lib/server/identity";

// Authenticated by the cluster join token in the body (checked in registerHost).
export async function POST(req: Request) {
  try {
    const input = await readJson(req, registerRequestSchema);
    return NextResponse.json(await registerHost(input, clientIpFrom(req.headers)));
  } catch (error) {
    return errorResponse(error, { route: "agent.register" });
  }
}
