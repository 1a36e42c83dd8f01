// Bearer-token check for the agent API. Only a hash of the token is kept; comparison is
// constant-time over fixed-length digests, so neither content nor length leaks through timing.
import crypto from "node:crypto";

const sha256 = (s: string) => crypto.createHash("sha256").update(s, "utf8").digest();

export class TokenVerifier {
  private hashes: Buffer[] = [];

  /** Replaces the accepted tokens (the host token changes when the agent re-registers). */
  set(...tokens: Array<string | null | undefined>): void {
    this.hashes = tokens.filter((t): t is string => typeof t === "string" && t.length > 0).map(sha256);
  }

  get configured(): boolean {
    return this.hashes.length > 0;
  }

  /** `authorization` header value -> accepted? */
  verifyHeader(header: string | undefined): boolean {
    const m = /^Bearer ([^\s]+)$/i.exec(header ?? "");
    if (!m?.[1]) return false;
    const presented = sha256(m[1]);
    let ok = false;
    // Check every hash (no early exit) to keep timing independent of which one matched.
    for (const h of this.hashes) ok = crypto.timingSafeEqual(presented, h) || ok;
    return ok;
  }
}
