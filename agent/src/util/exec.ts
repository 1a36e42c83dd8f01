// One way to run host tools: argv arrays (never a shell string) with a timeout, so a hung
// ovs-vsctl or qemu-img can never wedge the agent.
import { execFile } from "node:child_process";

export interface ExecResult {
  stdout: string;
  stderr: string;
}

export class ExecError extends Error {
  constructor(
    message: string,
    readonly cmd: string,
    readonly args: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
    readonly notFound: boolean,
  ) {
    super(message);
    this.name = "ExecError";
  }
}

export interface ExecOptions {
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  maxBuffer?: number;
}

export function run(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const timeout = opts.timeoutMs ?? 15_000;
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args as string[],
      {
        timeout,
        killSignal: "SIGKILL",
        env: opts.env ?? process.env,
        maxBuffer: opts.maxBuffer ?? 4 * 1024 * 1024,
        encoding: "utf8",
      },
      (err, stdout, stderr) => {
        if (!err) return resolve({ stdout, stderr });
        const e = err as NodeJS.ErrnoException & { code?: string | number; killed?: boolean; signal?: string };
        const notFound = e.code === "ENOENT";
        const exitCode = typeof e.code === "number" ? e.code : null;
        const why = notFound
          ? "not found"
          : e.killed || e.signal
            ? `timed out after ${timeout} ms`
            : `exited with ${exitCode ?? e.code}`;
        const detail = String(stderr || "")
          .trim()
          .split("\n")
          .slice(-3)
          .join(" | ");
        reject(
          new ExecError(
            `${cmd} ${args.join(" ")}: ${why}${detail ? `: ${detail}` : ""}`,
            cmd,
            args,
            exitCode,
            String(stderr ?? ""),
            notFound,
          ),
        );
      },
    );
  });
}
