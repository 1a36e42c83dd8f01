import { NextResponse } from "next/server";
import { buildOpenApi } from "@/lib/openapi";

// Public on purpose: the document describes the API, it exposes no data.
export function GET(req: Request) {
  return NextResponse.json(buildOpenApi(new URL(req.url).origin));
}
