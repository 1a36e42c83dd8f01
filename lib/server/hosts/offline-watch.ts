import "server-only";
// Giving up on a frozen agent: its connections stay open (the kernel still holds them), so a call
// would wait for its whole timeout — 15 minutes for a create. A call watched here is abandoned as
// soon as the controller has declared the host offline (markStaleHostsOffline, missed heartbeats).
import { db } from "../platform";

/** The host went offline while a call waited for its agent (a frozen or cut-off agent). */
export class HostOfflineError extends Error {
  name = "HostOfflineError";
}

/** How often a call that gives up on an offline host reads the host's row. */
const OFFLINE_POLL_MS = 2_000;

/** Aborts once the controller has marked the host offline; stop() when the call ends. */
export function offlineWatch(hostId: string): { signal: AbortSignal; stop(): void } {
  const abort = new AbortController();
  const timer = setInterval(() => {
    void db()
      .host.findUnique({ where: { id: hostId }, select: { status: true, lastHeartbeatAt: true } })
      .then((h) => {
        // Offline alone decides: heartbeats that came while the call ran (before the freeze) are normal.
        if (h?.status !== "offline") return;
        const silent = h.lastHeartbeatAt
          ? `no heartbeat for ${Math.round((Date.now() - h.lastHeartbeatAt.getTime()) / 1000)} s`
          : "no heartbeat yet";
        abort.abort(new HostOfflineError(`the host went offline (${silent})`));
      })
      .catch(() => undefined);
  }, OFFLINE_POLL_MS);
  timer.unref();
  return { signal: abort.signal, stop: () => clearInterval(timer) };
}
