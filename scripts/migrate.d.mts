// Types for scripts/migrate.mjs (plain JS so it runs before the build), for tests and server code.
export declare const PG_MIGRATION_LOCK: number;
export declare const MIGRATION_DIRS: { sqlite: string; postgresql: string };
export type Provider = "sqlite" | "postgresql";
export declare class MigrationError extends Error {}
export interface LocalMigration {
  name: string;
  sql: string;
  checksum: string;
}
export interface MigrationRow {
  migration_name: string;
  checksum: string;
  finished_at: unknown;
  rolled_back_at: unknown;
}
export interface MigrateOptions {
  /** file:<path> or postgresql://…; default DATABASE_URL, else file:<POLYARCH_DATA_DIR|./data>/polyarch.db */
  url?: string;
  migrationsDir?: string;
  log?: (message: string) => void;
  /** read only: report pending migrations */
  status?: boolean;
  busyTimeoutMs?: number;
  lockTimeoutMs?: number;
}
export interface MigrateResult {
  provider: Provider;
  applied: string[];
  pending: string[];
  total: number;
}
export declare function migrate(options?: MigrateOptions): Promise<MigrateResult>;
export declare function defaultDatabaseUrl(env?: Record<string, string | undefined>): string;
export declare function resolveDatabaseUrl(env?: Record<string, string | undefined>): string;
export declare function providerOf(url: string): Provider;
export declare function sqlitePath(url: string, cwd?: string): string;
export declare function pgConnection(url: string): { connectionString: string; schema: string };
export declare function redact(url: string): string;
export declare function checksum(sql: string): string;
export declare function readMigrations(dir: string): LocalMigration[];
export declare function plan(
  local: LocalMigration[],
  rows: MigrationRow[],
  log?: (message: string) => void,
): LocalMigration[];
/** mkdir -p with mode 0700 (an existing directory is left as it is). */
export declare function ensurePrivateDir(dir: string): void;
/** Creates the SQLite file 0600 if missing; drops group/other access from it and its -wal/-shm/-journal. */
export declare function ensurePrivateSqliteFile(file: string, log?: (message: string) => void): void;
