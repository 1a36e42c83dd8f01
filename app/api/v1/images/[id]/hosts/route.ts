import { apiRoute } from "@/lib/server/http";
import { listImageHosts } from "@/lib/server/host-images";

// Hosts holding a cached copy of the image, from their agents' heartbeats.
export const GET = apiRoute<{ id: string }>({ permission: "read", action: "image.hosts", targetType: "image" }, ({ params }) => listImageHosts(params.id));
