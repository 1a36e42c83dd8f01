// Running one QMP background job (snapshot-save, snapshot-load, ...) to its end: start it, poll
// query-jobs until it concludes, dismiss it, and turn its error into an exception.
import { randomBytes } from "node:crypto";
import type { QmpClient } from "./qmp";

interface QmpJobInfo {
  id: string;
  type: string;
  status: string;
  "current-progress": number;
  "total-progress": number;
  error?: string;
}

/** The job ran and failed (QEMU's own message), or did not finish in time. */
export class QmpJobError extends Error {
  constructor(
    readonly command: string,
    message: string,
  ) {
    super(message);
    this.name = "QmpJobError";
  }
}

/**
 * Starts `command` with a fresh job-id (added to `args`) and waits until the job concludes.
 * Snapshot jobs are created with manual dismissal, so the job is dismissed here either way.
 */
export async function runQmpJob(
  qmp: QmpClient,
  command: string,
  args: Record<string, unknown>,
  opts: { timeoutMs: number },
): Promise<void> {
  const jobId = `pa-${command}-${randomBytes(4).toString("hex")}`;
  await qmp.execute(command, { ...args, "job-id": jobId });
  const deadline = Date.now() + opts.timeoutMs;
  let pollMs = 20;
  for (;;) {
    const jobs = await qmp.execute<QmpJobInfo[]>("query-jobs");
    const job = jobs.find((j) => j.id === jobId);
    // A job that is gone was dismissed by someone else: nothing tells us how it ended.
    if (!job) throw new QmpJobError(command, `QMP ${command}: job ${jobId} disappeared before it concluded`);
    if (job.status === "concluded") {
      await qmp.execute("job-dismiss", { id: jobId }).catch(() => {});
      if (job.error) throw new QmpJobError(command, `QMP ${command} failed: ${job.error}`);
      return;
    }
    if (Date.now() > deadline) {
      throw new QmpJobError(command, `QMP ${command}: job ${jobId} still ${job.status} after ${opts.timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, pollMs));
    pollMs = Math.min(250, pollMs * 2);
  }
}
