import { apiRoute } from "@/lib/server/web";
import { listImageHosts } from "@/lib/server/images";

// Hosts holding a cached copy of the image, from their agents' heartbeats.
export const GET = apiRoute<{ id: string }>(
  { permission: "read", action: "image.hosts", targetType: "image" },
  ({ params }) => listImageHosts(params.id),
);
