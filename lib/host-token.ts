// The bearer token a host's agent holds. Derived from the controller secret, the host id and the
// token generation, so any controller (and the console proxy in server/) can call any agent
// without storing the token; the database keeps only its hash (docs/decisions/004).
import { createHmac } from "node:crypto";

export function deriveHostToken(secret: string, hostId: string, generation: number): string {
  return "pah_" + createHmac("sha256", secret).update(`host-token:${hostId}:${generation}`).digest("base64url");
}
