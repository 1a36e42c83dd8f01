import "server-only";
import { ensureFirstAdmin } from "./bootstrap";
import { sweepInterruptedUploads } from "./image-upload";
import { registerDemoImages } from "./demo-images";
import { applyConfiguredJoinToken, getJoinToken, markStaleHostsOffline } from "./fleet";
import { logError } from "./log";
import { env } from "./env";
import { db, isPostgres } from "./db";

const SWEEP_MS = 5_000;

export async function onServerStart(): Promise<void> {
  try {
    // WAL lets the console, migrations and tools read while one writer writes (SQLite only; persistent).
    if (!isPostgres()) await db().$queryRawUnsafe("PRAGMA journal_mode=WAL");
    await ensureFirstAdmin();
    // Uploads cut off by a restart leave rows in uploading/validating and stray files: remove them.
    await sweepInterruptedUploads();
    await applyConfiguredJoinToken();
    await getJoinToken();
    const fixtures = env().POLYARCH_DEMO_IMAGES_DIR;
    if (fixtures) await registerDemoImages(fixtures);
  } catch (error) {
    logError("start-up tasks failed", error);
  }
  // Periodic work; unref so it never keeps a stopping server alive.
  setInterval(() => {
    markStaleHostsOffline().catch((error) => logError("offline sweep failed", error));
  }, SWEEP_MS).unref();
}
