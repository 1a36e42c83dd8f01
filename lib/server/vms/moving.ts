import "server-only";
// A VM being migrated has copies on two hosts; changing it (power, spec, disks, deletion) mid-move
// would race the migration's switch-over. Every operation asks here first.
import { AppError } from "../../errors";
import { db } from "../platform";

export async function refuseWhileMoving(vmId: string): Promise<void> {
  const vm = await db().vm.findUnique({ where: { id: vmId }, select: { name: true, migratingToHostId: true } });
  if (vm?.migratingToHostId)
    throw new AppError({
      code: "conflict",
      message: `${vm.name} is moving to another host; wait for the migration to finish or cancel it.`,
    });
}
