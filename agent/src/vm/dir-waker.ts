// Waiting for QEMU's QMP socket without polling blind: an inotify watch (fs.watch) on the socket
// directory wakes the start loop the moment QEMU binds the socket; a timer is the fallback where
// the watch is unavailable or misses an event. Created before the spawn, so no bind is missed.
import { type FSWatcher, watch } from "node:fs";

export interface DirWaker {
  /** Resolves on the next change (to the watched name) in the directory, a wake() call, or after `ms`, whichever comes first. */
  wait(ms: number): Promise<void>;
  /** Ends a pending wait now (e.g. the process exited). */
  wake(): void;
  close(): void;
}

/** Watches `dir`; with `name`, only changes to that entry wake (QEMU also writes its log and pidfile there). */
export function dirWaker(dir: string, name?: string): DirWaker {
  let pending: (() => void) | null = null;
  // A change between two waits must not be lost: the next wait returns at once.
  let missed = false;
  const wake = () => {
    if (pending) pending();
    else missed = true;
  };
  let watcher: FSWatcher | null = null;
  try {
    watcher = watch(dir, { persistent: false }, (_event, file) => {
      if (name === undefined || file === null || file === name) wake();
    });
    watcher.on("error", () => {
      watcher?.close();
      watcher = null;
    });
  } catch {
    watcher = null; // no inotify (limits, odd filesystem): the timer alone
  }
  return {
    wait(ms) {
      if (missed) {
        missed = false;
        return Promise.resolve();
      }
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          pending = null;
          resolve();
        };
        const timer = setTimeout(done, ms);
        pending = done;
      });
    },
    wake,
    close() {
      watcher?.close();
      watcher = null;
      pending?.();
    },
  };
}
