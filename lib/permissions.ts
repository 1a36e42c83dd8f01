// Roles and what they may do. Pure, so pages can hide what a role cannot use; the server
// still checks every request with requirePermission (lib/server/identity/guard.ts).
export const ROLES = ["admin", "operator", "viewer"] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = [
  "read", // dashboard, hosts, images, VMs, networks, tasks
  "vm:create",
  "vm:operate", // start/stop/reboot/delete
  "image:manage",
  "host:manage",
  "network:manage",
  "user:manage",
  "audit:read",
  "console:write",
  "project:manage", // create/rename/delete projects, add/remove members (VM scoping: lib/server/vms/access.ts)
  "instanceType:manage", // create/edit/delete instance types (ADR 050); everyone signed in lists them
  "vm:customSize", // create a VM with explicit vcpus/memoryMb/diskGb instead of an instance type
] as const;
export type Permission = (typeof PERMISSIONS)[number];

const GRANTS: Record<Role, ReadonlySet<Permission>> = {
  admin: new Set(PERMISSIONS),
  operator: new Set<Permission>(["read", "vm:create", "vm:customSize", "vm:operate", "image:manage", "console:write"]),
  viewer: new Set<Permission>(["read"]),
};

export function isRole(value: unknown): value is Role {
  return typeof value === "string" && (ROLES as readonly string[]).includes(value);
}

export function can(role: string | null | undefined, permission: Permission): boolean {
  return isRole(role) && GRANTS[role].has(permission);
}

export const ROLE_DESCRIPTIONS: Record<Role, string> = {
  admin: "Everything, including users, hosts and networks",
  operator: "Create and operate VMs, manage images; read hosts",
  viewer: "Read-only",
};
