"use server";
import { defineAction } from "@/lib/server/web";
import { createNetworkSchema, networkIdSchema } from "@/lib/schemas/networks";
import { createNetwork, deleteNetwork } from "@/lib/server/networks";

export const createNetworkAction = defineAction(
  {
    schema: createNetworkSchema,
    permission: "network:manage",
    action: "network.create",
    targetType: "network",
    revalidate: ["/networks"],
  },
  (input, who) => createNetwork(input, who),
);

export const deleteNetworkAction = defineAction(
  {
    schema: networkIdSchema,
    permission: "network:manage",
    action: "network.delete",
    targetType: "network",
    revalidate: ["/networks"],
  },
  (input, who) => deleteNetwork(input.id, who),
);
