import "server-only";
import { ensureFirstAdmin } from "./bootstrap";
import { registerDemoImages } from "./demo-images";
import { applyConfiguredJoinToken, getJoinToken, markStaleHostsOffline } from "./fleet";
import { logError } from "./log";
import { env } from "./env";

const SWEEP_MS = 5_000;

export async function onServerStart(): Promise<void> {
  try {
    await ensureFirstAdmin();
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
