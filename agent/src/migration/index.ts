// Moving VMs between hosts, the agent's half (ADR 035; protocol: lib/schemas/agent-migration.ts).
export { type DiskDownload, MAX_DISK_BYTES, TransferError } from "./disk-transfer";
export type { MigrationHost } from "./host";
export { VmMigrations } from "./migrations";
