// Who is asking: produced by identity's guard, carried by every domain call that audits.
// It lives in platform because every domain (and the audit log) takes it; only identity creates one.
import type { Role } from "../../permissions";

export type Actor = { id: string; email: string; name: string; role: Role; via: "session" | "token"; tokenId?: string };

/** The caller of a domain operation: the actor and the client address the audit log records. */
export type Caller = { actor: Actor; clientIp: string | null };
