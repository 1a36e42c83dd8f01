import { errorResponse } from "@/lib/server/platform";
import { authenticateHost } from "@/lib/server/hosts";
import { imageFileResponse } from "@/lib/server/images";

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
