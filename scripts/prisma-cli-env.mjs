// Environment that lets the Prisma CLI (7.x for `generate`, the 6.19.3 differ in tools/prisma-differ)
// run offline: the native engines it would otherwise download from binaries.prisma.sh are replaced by
// stubs. Neither command executes them — `generate` only checks that the path exists and the differ
// uses the WebAssembly schema engine (engine "js") — so a stub that fails loudly is safe.
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;

export function offlinePrismaEnv(base = process.env) {
  const dir = join(root, ".cache", "prisma-offline");
  const engine = join(dir, "schema-engine-stub");
  const library = join(dir, "libquery_engine-stub.so.node");
  if (!existsSync(engine) || !existsSync(library)) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      engine,
      "#!/bin/sh\n" +
        "echo 'polyarch: the native Prisma schema engine is not available offline; " +
        "use node scripts/migrate.mjs / scripts/new-migration.mjs' >&2\n" +
        "exit 1\n",
    );
    chmodSync(engine, 0o755);
    writeFileSync(library, "");
  }
  return {
    ...base,
    // An engine the user installed on purpose (PRISMA_SCHEMA_ENGINE_BINARY already set) wins.
    PRISMA_SCHEMA_ENGINE_BINARY: base.PRISMA_SCHEMA_ENGINE_BINARY || engine,
    PRISMA_QUERY_ENGINE_LIBRARY: base.PRISMA_QUERY_ENGINE_LIBRARY || library,
    PRISMA_ENGINES_CHECKSUM_IGNORE_MISSING: "1",
    // No update check / telemetry request to checkpoint.prisma.io.
    CHECKPOINT_DISABLE: "1",
    PRISMA_HIDE_UPDATE_MESSAGE: "1",
    PRISMA_HIDE_PREVIEW_FLAG_WARNINGS: "1",
  };
}
