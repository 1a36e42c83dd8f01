// The agent's one error type for VM operations. Only `message` is meant for users; the HTTP
// layer maps `code` to a status with `httpStatus` and serialises with `toJSON()` (agentErrorSchema).
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

/** An AgentError as is; anything else wrapped with `context` and the `fallback` code. */
export function toAgentError(err: unknown, context: string, fallback: AgentError["code"] = "unavailable"): AgentError {
  if (err instanceof AgentError) return err;
  return new AgentError(fallback, `${context}: ${errMessage(err)}`, { cause: err });
}

/** The first five schema issues on one line: "<path>: <message>; ...". */
export function zodMessage(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>): string {
  return issues
    .slice(0, 5)
    .map((i) => (i.path.length ? `${i.path.map(String).join(".")}: ${i.message}` : i.message))
    .join("; ");
}
