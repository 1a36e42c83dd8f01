// The custom server's structured logs: one JSON object per line on stdout.
export type LogLevel = "info" | "warn" | "error";
export type Log = (level: LogLevel, event: string, ctx?: Record<string, unknown>) => void;

export const log: Log = (level, event, ctx = {}) => {
  console.log(JSON.stringify({ time: new Date().toISOString(), level, event, ...ctx }));
};

export const noLog: Log = () => {};

export function errorText(e: unknown): string {
  return e instanceof Error ? (e.stack ?? e.message) : String(e);
}
