import { apiRoute } from "@/lib/server/web";
import { listImageHosts } from "@/lib/server/images";

// Hosts holding a cached copy of the image, from their agents' heartbeats; 404 for an image the
// caller may not see, and only VMs of the caller's projects are named.
export const GET = apiRoute<{ id: string }>(
  { permission: "read", action: "image.hosts", targetType: "image" },
  ({ params, actor }) => listImageHosts(params.id, actor),
);
