import "server-only";
import { ensureFirstAdmin } from "./bootstrap";
import { logError } from "./log";

export async function onServerStart(): Promise<void> {
  try {
    await ensureFirstAdmin();
  } catch (error) {
    logError("start-up tasks failed", error);
  }
}
