// What the migration code needs from the VmManager that owns the VMs (manager.ts hands it over):
// its context, the VM table and its per-VM lock. Kept narrow so the migration steps stay testable.
import type { Vm, VmContext } from "../vm/state";

export interface MigrationHost {
  readonly ctx: VmContext;
  readonly vms: Map<string, Vm>;
  init(): Promise<void>;
  ensureOpen(): void;
  /** serialises with every other operation on the VM (same lock as apply, actions, snapshots) */
  withLock<T>(id: string, fn: () => Promise<T>): Promise<T>;
  /** serialises with every change to volume attachments and volume files */
  withVolumesLock<T>(fn: () => Promise<T>): Promise<T>;
  /** some operation (a snapshot job, a stop, a PUT) holds the VM's lock right now */
  busy(id: string): boolean;
  /** the VM whose spec lists the volume, or null */
  attachedTo(volumeId: string): string | null;
  /** emits the manager's `change` event */
  emitChange(id: string, extra?: Record<string, unknown>): void;
}
