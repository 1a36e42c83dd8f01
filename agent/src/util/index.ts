// Generic helpers every domain uses: child processes (argument arrays, never a shell) and the
// JSON-lines logger. No domain code here.
export { ExecError, run, type ExecOptions, type ExecResult } from "./exec";
export { createLogger, silentLogger, type LogFields, type Logger, type LogLevel } from "./log";
export { pidAlive, processArgv } from "./proc-info";
