// Public surface of lib/server/mobility (issue 14): migration (preview, start, cancel), HA,
// reconciliation, maintenance with evacuation. app/ and startup import only from here.
export { migrationPreview } from "./preview";
export { cancelMigration, MIGRATE_TASK, startMigration, type MigrateContext, type MigrationOutcome } from "./migrate";
export { recoverAbandonedMigrations } from "./recover";
export * from "./ha";
export * from "./reconcile";
export * from "./maintenance";
export * from "./evacuate";
