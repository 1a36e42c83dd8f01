import "server-only";
// Which uploads this process is receiving (upload.ts adds and removes them), and the start-up sweep
// of what a controller that crashed mid-upload left behind. Split from upload.ts for its size.
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { controllerId, db, dbNowMs, liveControllers, logInfo } from "../platform";
import { imagesDir } from "./files";

/** Image ids whose bytes this process is receiving or validating right now (the sweep skips them). */
export const activeUploads = new Set<string>();
const active = activeUploads;

export function isUploadActive(id: string): boolean {
  return active.has(id);
}

/**
 * Rows still uploading/validating that no upload in this process owns and whose controller is not
 * alive, with their files. `atStart`: also rows of no controller or of this one; later, a row this
 * process has just created may not be in `active` yet, and unowned rows may be another's first upload.
 */
async function removeStaleUploads(atStart: boolean): Promise<number> {
  const stale = await db().image.findMany({
    where: {
      status: { in: ["uploading", "validating"] },
      ...(atStart ? {} : { uploadControllerId: { not: null }, NOT: { uploadControllerId: controllerId() } }),
    },
    select: { id: true, uploadControllerId: true },
  });
  // Several controllers share the database: an upload another live controller is receiving stays.
  const owners = [
    ...new Set(stale.map((r) => r.uploadControllerId).filter((c): c is string => !!c && c !== controllerId())),
  ];
  const alive = await liveControllers(owners, await dbNowMs());
  let rows = 0;
  for (const { id, uploadControllerId } of stale) {
    if (active.has(id) || (uploadControllerId && alive.has(uploadControllerId))) continue;
    await rm(join(/* turbopackIgnore: true */ imagesDir(), id), { recursive: true, force: true });
    rows += (await db().image.deleteMany({ where: { id, status: { in: ["uploading", "validating"] } } })).count;
  }
  return rows;
}

/**
 * Periodic: uploads cut off by a controller that died. The start-up sweep cannot take them all: a
 * controller restarted right after a crash still finds the dead one's liveness lease unexpired.
 */
export async function sweepAbandonedUploads(): Promise<{ rows: number }> {
  const rows = await removeStaleUploads(false);
  if (rows) logInfo("swept image uploads of stopped controllers", { rows });
  return { rows };
}

/**
 * Removes what a controller crash mid-upload left behind: rows still uploading/validating that no
 * upload in this process owns, and image-store directories without a row. Call once at start-up.
 */
export async function sweepInterruptedUploads(): Promise<{ rows: number; dirs: number }> {
  const rows = await removeStaleUploads(true);
  let dirs = 0;
  const entries = await readdir(imagesDir(), { withFileTypes: true }).catch(() => []);
  const ids = new Set(
    (await db().image.findMany({ where: { id: { in: entries.map((e) => e.name) } }, select: { id: true } })).map(
      (r) => r.id,
    ),
  );
  for (const e of entries) {
    if (!e.isDirectory() || ids.has(e.name) || active.has(e.name)) continue;
    await rm(join(imagesDir(), e.name), { recursive: true, force: true });
    dirs++;
  }
  if (rows || dirs) logInfo("swept interrupted image uploads", { rows, dirs });
  return { rows, dirs };
}
