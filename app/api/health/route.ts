import { NextResponse } from "next/server";
import { db } from "@/lib/server/platform";

// Liveness/readiness for scripts and probes: public, reveals nothing but "up" and whether the DB answers.
export async function GET() {
  try {
    await db().$queryRawUnsafe("SELECT 1");
    return NextResponse.json({ ok: true });
  } catch {
    return NextResponse.json(
      { ok: false, error: { code: "unavailable", message: "Database unavailable" } },
      { status: 503 },
    );
  }
}
