import "server-only";
// First start: create the first admin from POLYARCH_ADMIN_EMAIL/PASSWORD, or generate a password
// and print it once. Runs from instrumentation.ts when the server starts.
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { db } from "../platform";
import { env } from "../platform";
import { createUser } from "./users";
import { logInfo } from "../platform";

export async function ensureFirstAdmin(): Promise<void> {
  const admins = await db().user.count({ where: { role: "admin" } });
  if (admins > 0) return;
  const e = env();
  const email = e.POLYARCH_ADMIN_EMAIL ?? "admin@polyarch.local";
  const generated = !e.POLYARCH_ADMIN_PASSWORD;
  const password = e.POLYARCH_ADMIN_PASSWORD ?? randomBytes(12).toString("base64url");
  await createUser({ email, name: "Administrator", role: "admin", password });
  logInfo("first admin created", { email });
  if (generated) {
    // Printed once; also left (0600) in the data dir for a console started in the background.
    const file = join(e.dataDir, "initial-admin-password");
    writeFileSync(file, `${email}\n${password}\n`, { mode: 0o600 });
    console.log(
      `\n  Polyarch admin login: ${email} / ${password}\n  (also written to ${file}; change it on the Users page)\n`,
    );
  }
}
