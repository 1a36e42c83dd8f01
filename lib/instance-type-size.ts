// How a VM size reads in the wizard and on the admin page, and which instance types fit an arch.
// Pure and without zod: client components import it (first-load JS, ADR 047).
import { formatMb } from "./format";

export interface SizeLike {
  vcpus: number;
  memoryMb: number;
  diskGb: number;
}

/** An instance type as the client components read it (GET /api/v1/instance-types items; lib/schemas/instance-types.ts). */
export interface InstanceTypeView extends SizeLike {
  id: string;
  name: string;
  arch: string | null;
  description: string | null;
}

/** "2 vCPU · 4 GiB · 20 GiB" */
export function formatInstanceSize(s: SizeLike): string {
  return `${s.vcpus} vCPU · ${formatMb(s.memoryMb)} · ${s.diskGb} GiB`;
}

/** A type limited to an arch (non-null) fits only VMs of that arch; null fits every arch. */
export function typeFitsArch(type: { arch: string | null }, arch: string): boolean {
  return type.arch === null || type.arch === arch;
}

/** The 422 message for a type used with the wrong arch (the API and the tests share it). */
export function wrongArchMessage(type: { name: string; arch: string }, arch: string): string {
  return `Instance type ${type.name} is for ${type.arch} only; choose a type for ${arch} or a custom size.`;
}
