// Prisma CLI config (Prisma 7 reads no .env). The app does not need the CLI at runtime:
//  - `npm run db:generate` (scripts/prisma-generate.mjs) generates both clients, passing --schema;
//  - `npm run db:migrate` (scripts/migrate.mjs) applies prisma/**/migrations itself.
// Where the native schema engine exists, `prisma migrate deploy|status` also work with this config:
// DATABASE_URL picks the provider (postgresql://… → prisma/postgres, else SQLite) like scripts/migrate.mjs.
import path from "node:path";
import { defineConfig } from "prisma/config";

const dataDir = process.env.POLYARCH_DATA_DIR ?? "./data";
const url = process.env.DATABASE_URL || `file:${path.resolve(dataDir, "polyarch.db")}`;
const postgres = /^postgres(ql)?:\/\//i.test(url);

export default defineConfig({
  schema: postgres ? "prisma/postgres/schema.prisma" : "prisma/schema.prisma",
  migrations: { path: postgres ? "prisma/postgres/migrations" : "prisma/migrations" },
  datasource: { url },
});
