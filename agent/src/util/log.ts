// One JSON line per event on stdout: greppable by the fleet scripts, parseable by anything.
export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, unknown>;
export type Logger = (level: LogLevel, event: string, fields?: LogFields) => void;

export function createLogger(
  base: LogFields = {},
  write: (line: string) => void = (l) => process.stdout.write(l + "\n"),
): Logger {
  return (level, event, fields = {}) => {
    const out: LogFields = { ts: new Date().toISOString(), level, event, ...base };
    for (const [k, v] of Object.entries(fields)) out[k] = v instanceof Error ? v.message : v;
    try {
      write(JSON.stringify(out));
    } catch {
      write(JSON.stringify({ ts: out.ts, level, event, note: "unserialisable log fields" }));
    }
  };
}

/** For tests and library defaults. */
export const silentLogger: Logger = () => {};
