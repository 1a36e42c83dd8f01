// The one error type whose message may reach a user. Anything else is logged and replaced
// by a generic message, so internals (SQL, paths, stack traces) never leak.
export type AppErrorCode =
  | "invalid"
  | "unauthenticated"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "unprocessable"
  | "too_large"
  | "unsupported_media_type"
  | "rate_limited"
  | "unavailable"
  /** the controller's disk cannot take the bytes (image store free space minus its reserve) */
  | "insufficient_storage";

export const STATUS_BY_CODE: Record<AppErrorCode, number> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  unsupported_media_type: 415,
  unprocessable: 422,
  rate_limited: 429,
  unavailable: 503,
  insufficient_storage: 507,
};

export class AppError extends Error {
  readonly code: AppErrorCode;
  readonly details?: unknown;
  constructor(args: { code: AppErrorCode; message: string; details?: unknown }) {
    super(args.message);
    this.name = "AppError";
    this.code = args.code;
    this.details = args.details;
  }
  get status(): number {
    return STATUS_BY_CODE[this.code];
  }
}

export function isAppError(e: unknown): e is AppError {
  return e instanceof AppError;
}

/** Turns zod issues into one readable sentence ("vcpus: at least 1 vCPU; arch: Unknown ..."). */
export function formatIssues(issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>): string {
  return issues
    .slice(0, 5)
    .map((i) => (i.path.length ? `${i.path.map(String).join(".")}: ${i.message}` : i.message))
    .join("; ");
}
