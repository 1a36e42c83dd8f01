// The agent's one error type for VM operations. Only `message` is meant for users; the HTTP
// layer maps `code` to a status with `httpStatus` and serialises with `toJSON()` (agentErrorSchema).
import { statfs } from "node:fs/promises";

export type AgentErrorCode = "invalid" | "not_found" | "conflict" | "unavailable" | "insufficient_storage";

const HTTP_STATUS: Record<AgentErrorCode, number> = {
  invalid: 422,
  not_found: 404,
  conflict: 409,
  unavailable: 503,
  insufficient_storage: 507,
};

export class AgentError extends Error {
  constructor(
    readonly code: AgentErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "AgentError";
  }

  get httpStatus(): number {
    return HTTP_STATUS[this.code];
  }

  toJSON(): { error: { code: AgentErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

export function isAgentError(err: unknown): err is AgentError {
  return err instanceof AgentError;
}

export function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A full disk, whoever hit it: a Node write (ENOSPC/EDQUOT), qemu-img's message, or an error that
 * already says insufficient_storage (the image cache's).
 */
export function isOutOfSpace(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === "ENOSPC" || code === "EDQUOT" || code === "insufficient_storage") return true;
  return /No space left on device|Disk quota exceeded/.test(errMessage(err));
}

/**
 * An AgentError as is; anything else wrapped with `context` and the `fallback` code — except a
 * full disk, which is always insufficient_storage (507), so the user learns what to free.
 */
export function toAgentError(err: unknown, context: string, fallback: AgentError["code"] = "unavailable"): AgentError {
  if (err instanceof AgentError) return err;
  const code = isOutOfSpace(err) ? "insufficient_storage" : fallback;
  return new AgentError(code, `${context}: ${errMessage(err)}`, { cause: err });
}

/** A 507 says how much is free on the filesystem of `dir` (measured after the failed work was removed). */
export async function withFreeSpace(err: AgentError, dir: string): Promise<AgentError> {
  if (err.code !== "insufficient_storage") return err;
  const st = await statfs(dir).catch(() => null);
  if (!st) return err;
  const mib = (Number(st.bavail) * Number(st.bsize)) / 1024 / 1024;
  return new AgentError(err.code, `${err.message} (${mib.toFixed(1)} MiB free in ${dir})`, { cause: err.cause });
}

/** The first five schema issues on one line: "<path>: <message>; ...". */
export function zodMessage(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>): string {
  return issues
    .slice(0, 5)
    .map((i) => (i.path.length ? `${i.path.map(String).join(".")}: ${i.message}` : i.message))
    .join("; ");
}
