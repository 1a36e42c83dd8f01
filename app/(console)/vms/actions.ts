"use server";
// VM server actions: the wizard's create and the VM page's lifecycle buttons. They call the same
// lib/server/vms functions as POST /api/v1/vms, POST /api/v1/vms/:id/actions and DELETE
// /api/v1/vms/:id (placement, project scope, tasks, audit and errors are theirs), and answer what
// those routes answer, as the JSON API serialises it. The API stays for automation.
import { defineAction } from "@/lib/server/web";
import { createVm, deleteVm, vmAction } from "@/lib/server/vms";
import { createVmSchema, vmIdSchema, type VmActionName } from "@/lib/schemas/vms";
import { createVmResultSchema, vmDtoSchema } from "@/lib/schemas/api";
import { toWire } from "@/lib/schemas/dto";

const revalidate = ["/vms"];

export const createVmAction = defineAction(
  { schema: createVmSchema, permission: "vm:create", action: "vm.create", targetType: "vm", revalidate },
  async (input, who) => toWire(createVmResultSchema, await createVm(input, who)),
);

const lifecycle = (action: VmActionName) =>
  defineAction(
    { schema: vmIdSchema, permission: "vm:operate", action: `vm.${action}`, targetType: "vm", revalidate },
    async (input, who) => toWire(vmDtoSchema, await vmAction(input.id, action, who)),
  );

export const startVmAction = lifecycle("start");
export const stopVmAction = lifecycle("stop");
export const rebootVmAction = lifecycle("reboot");
export const poweroffVmAction = lifecycle("poweroff");
/** Places a VM whose creation failed again and provisions it. */
export const retryVmAction = lifecycle("retry");

export const deleteVmAction = defineAction(
  { schema: vmIdSchema, permission: "vm:operate", action: "vm.delete", targetType: "vm", revalidate },
  async (input, who) => {
    await deleteVm(input.id, who);
    return { id: input.id, deleted: true as const };
  },
);
