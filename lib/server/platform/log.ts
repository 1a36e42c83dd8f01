import "server-only";
// Structured one-line logs. Internal errors are logged with context here and never shown to users.
export function logError(message: string, error: unknown, context: Record<string, unknown> = {}): void {
  const err =
    error instanceof Error
      ? { name: error.name, message: error.message, stack: error.stack }
      : { value: String(error) };
  console.error(JSON.stringify({ level: "error", at: new Date().toISOString(), message, ...context, error: err }));
}

export function logInfo(message: string, context: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ level: "info", at: new Date().toISOString(), message, ...context }));
}
