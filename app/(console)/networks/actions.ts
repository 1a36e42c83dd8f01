"use server";
import { defineAction } from "@/lib/server/web";
import { createNetworkSchema, networkIdSchema } from "@/lib/schemas/networks";
import { createNetwork, deleteNetwork } from "@/lib/server/networks";

// "vm:create" lets operators in; createNetwork/deleteNetwork then allow them only networks of their
// own projects, and shared networks only to admins (lib/server/networks/tenancy.ts).

export const createNetworkAction = defineAction(
  {
    schema: createNetworkSchema,
    permission: "vm:create",
    action: "network.create",
    targetType: "network",
    revalidate: ["/networks"],
  },
  (input, who) => createNetwork(input, who),
);

export const deleteNetworkAction = defineAction(
  {
    schema: networkIdSchema,
    permission: "vm:create",
    action: "network.delete",
    targetType: "network",
    revalidate: ["/networks"],
  },
  (input, who) => deleteNetwork(input.id, who),
);
