import { errorResponse } from "@/lib/server/http";
import { authenticateHost } from "@/lib/server/fleet";
import { imageFileResponse } from "@/lib/server/image-files";

// Agents fetch image files with their host token; Range requests resume interrupted downloads.
export async function GET(req: Request, { params }: { params: Promise<{ id: string; file: string }> }) {
  try {
    await authenticateHost(req);
    const { id, file } = await params;
    return await imageFileResponse(id, file, req.headers.get("range"));
  } catch (error) {
    return errorResponse(error, { route: "agent.image-file" });
  }
}
