// QMP client over a unix socket. One command in flight per socket (QEMU serialises them anyway
// and a queue keeps timeouts meaningful), replies matched by id, async events emitted apart.
import { EventEmitter } from "node:events";
import net from "node:net";

export interface QmpGreeting {
  QMP: { version: { qemu: { major: number; minor: number; micro: number }; package: string }; capabilities: string[] };
}

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

export interface QmpStatusInfo {
  status: string; // "running" | "paused" | "shutdown" | "inmigrate" | "prelaunch" | "internal-error" | ...
  running: boolean;
  singlestep?: boolean;
}

export interface QmpCpuFast {
  "cpu-index": number;
  "qom-path": string;
  "thread-id": number;
  target: string;
  props?: Record<string, number>;
}

export interface QmpVersionInfo {
  qemu: { major: number; minor: number; micro: number };
  package: string;
}

/** QEMU answered with {"error": {...}}. */
export class QmpError extends Error {
  constructor(
    readonly command: string,
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`QMP ${command} failed: ${errorClass}: ${desc}`);
    this.name = "QmpError";
  }
}

/** Transport problems: connect refused, timeout, socket closed mid-command. */
export class QmpConnectionError extends Error {
  constructor(
    message: string,
    readonly kind: "connect" | "timeout" | "closed" | "protocol",
  ) {
    super(message);
    this.name = "QmpConnectionError";
  }
}

export interface QmpConnectOptions {
  /** greeting + qmp_capabilities must complete within this (default 5 s) */
  connectTimeoutMs?: number;
  /** default per-command timeout (default 10 s) */
  commandTimeoutMs?: number;
}

interface Pending {
  id: string;
  command: string;
  args?: Record<string, unknown>;
  timeoutMs: number;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  /** `quit` never needs a reply: QEMU may close the socket first */
  closeIsSuccess: boolean;
}

/**
 * Events: `event` (QmpEvent) for every async event, plus the event name itself
 * (e.g. `SHUTDOWN`) with the QmpEvent; `close` (Error | undefined) once the socket is gone.
 */
export class QmpClient extends EventEmitter {
  greeting!: QmpGreeting;
  private buffer = "";
  private queue: Pending[] = [];
  private inFlight: (Pending & { timer: NodeJS.Timeout }) | null = null;
  private nextId = 1;
  private isClosed = false;
  private readonly commandTimeoutMs: number;

  private constructor(
    private readonly socket: net.Socket,
    opts: QmpConnectOptions,
  ) {
    super();
    this.commandTimeoutMs = opts.commandTimeoutMs ?? 10_000;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Connects, reads the greeting and negotiates capabilities. */
  static connect(path: string, opts: QmpConnectOptions = {}): Promise<QmpClient> {
    const connectTimeoutMs = opts.connectTimeoutMs ?? 5_000;
    return new Promise((resolve, reject) => {
      const socket = net.createConnection({ path });
      const client = new QmpClient(socket, opts);
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      // QEMU accepts one QMP client at a time; a second one waits silently for the greeting.
      const timer = setTimeout(
        () =>
          fail(
            new QmpConnectionError(
              `QMP ${path}: no greeting within ${connectTimeoutMs} ms (is another client attached?)`,
              "timeout",
            ),
          ),
        connectTimeoutMs,
      );
      socket.once("error", (err) => fail(new QmpConnectionError(`QMP ${path}: ${err.message}`, "connect")));
      socket.once("close", () => fail(new QmpConnectionError(`QMP ${path}: closed during handshake`, "closed")));
      socket.setEncoding("utf8");
      const onGreeting = (msg: Record<string, unknown>) => {
        if (!("QMP" in msg)) return fail(new QmpConnectionError(`QMP ${path}: unexpected greeting`, "protocol"));
        client.greeting = msg as unknown as QmpGreeting;
        client.start();
        client
          .execute("qmp_capabilities", undefined, { timeoutMs: connectTimeoutMs })
          .then(() => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            socket.removeAllListeners("error");
            socket.removeAllListeners("close");
            client.attachLifecycle();
            resolve(client);
          })
          .catch((err: Error) => fail(err));
      };
      client.onMessage = onGreeting;
      socket.on("data", (chunk: string) => client.onData(chunk));
    });
  }

  private onMessage: (msg: Record<string, unknown>) => void = () => {};

  private start(): void {
    this.onMessage = (msg) => this.dispatch(msg);
  }

  private attachLifecycle(): void {
    this.socket.on("error", (err) => this.teardown(err));
    this.socket.on("close", () => this.teardown());
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    // QMP frames are one JSON object per line ("\r\n"-terminated).
    while ((nl = this.buffer.indexOf("\n")) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (!line) continue;
      let msg: unknown;
      try {
        msg = JSON.parse(line);
      } catch {
        this.emit("protocol-error", new QmpConnectionError(`unparseable QMP line: ${line.slice(0, 200)}`, "protocol"));
        continue;
      }
      if (msg && typeof msg === "object") this.onMessage(msg as Record<string, unknown>);
    }
    if (this.buffer.length > 16 * 1024 * 1024) this.teardown(new QmpConnectionError("QMP line too long", "protocol"));
  }

  private dispatch(msg: Record<string, unknown>): void {
    if (typeof msg.event === "string") {
      const ev = msg as unknown as QmpEvent;
      this.emit("event", ev);
      this.emit(ev.event, ev);
      return;
    }
    const current = this.inFlight;
    // Late replies to commands that already timed out carry an old id: drop them.
    if (!current || msg.id !== current.id) return;
    clearTimeout(current.timer);
    this.inFlight = null;
    if ("error" in msg) {
      const e = (msg.error ?? {}) as { class?: string; desc?: string };
      current.reject(new QmpError(current.command, e.class ?? "GenericError", e.desc ?? "unknown error"));
    } else {
      current.resolve(msg.return);
    }
    this.pump();
  }

  private pump(): void {
    if (this.inFlight || this.isClosed) return;
    const next = this.queue.shift();
    if (!next) return;
    const timer = setTimeout(() => {
      if (this.inFlight?.id !== next.id) return;
      this.inFlight = null;
      next.reject(new QmpConnectionError(`QMP ${next.command}: no reply within ${next.timeoutMs} ms`, "timeout"));
      this.pump();
    }, next.timeoutMs);
    this.inFlight = { ...next, timer };
    const frame: Record<string, unknown> = { execute: next.command, id: next.id };
    if (next.args) frame.arguments = next.args;
    this.socket.write(JSON.stringify(frame) + "\n");
  }

  /** Generic command; prefer the typed methods below. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, opts: { timeoutMs?: number } = {}): Promise<T> {
    if (this.isClosed) return Promise.reject(new QmpConnectionError(`QMP ${command}: socket is closed`, "closed"));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({
        id: `pa-${this.nextId++}`,
        command,
        args,
        timeoutMs: opts.timeoutMs ?? this.commandTimeoutMs,
        resolve: resolve as (v: unknown) => void,
        reject,
        closeIsSuccess: command === "quit",
      });
      this.pump();
    });
  }

  queryStatus(opts?: { timeoutMs?: number }): Promise<QmpStatusInfo> {
    return this.execute<QmpStatusInfo>("query-status", undefined, opts);
  }
  queryVersion(): Promise<QmpVersionInfo> {
    return this.execute<QmpVersionInfo>("query-version");
  }
  queryCpusFast(): Promise<QmpCpuFast[]> {
    return this.execute<QmpCpuFast[]>("query-cpus-fast");
  }
  queryBlock(): Promise<Array<Record<string, unknown>>> {
    return this.execute("query-block");
  }
  /** ACPI power button: the guest decides whether to shut down. */
  systemPowerdown(): Promise<void> {
    return this.execute<void>("system_powerdown").then(() => undefined);
  }
  /** Hard reset, like pressing the reset button. */
  systemReset(): Promise<void> {
    return this.execute<void>("system_reset").then(() => undefined);
  }
  /** Pause vCPUs. */
  stop(): Promise<void> {
    return this.execute<void>("stop").then(() => undefined);
  }
  /** Resume vCPUs. */
  cont(): Promise<void> {
    return this.execute<void>("cont").then(() => undefined);
  }
  /** Grow a block node online (size in bytes). */
  blockResize(nodeName: string, size: number): Promise<void> {
    return this.execute<void>("block_resize", { "node-name": nodeName, size }).then(() => undefined);
  }
  /** Adds a block node (blockdev-add arguments: driver, node-name, file, ...). */
  blockdevAdd(args: Record<string, unknown>): Promise<void> {
    return this.execute<void>("blockdev-add", args).then(() => undefined);
  }
  /** Removes a block node no device uses any more. */
  blockdevDel(nodeName: string): Promise<void> {
    return this.execute<void>("blockdev-del", { "node-name": nodeName }).then(() => undefined);
  }
  /** Hot-plugs a device (device_add arguments: driver, id, bus, ...). */
  deviceAdd(args: Record<string, unknown>): Promise<void> {
    return this.execute<void>("device_add", args).then(() => undefined);
  }
  /**
   * Asks the guest to release a device. Returns at once: the device is gone only when
   * DEVICE_DELETED arrives (waitForEvent), which needs the guest's cooperation.
   */
  deviceDel(id: string): Promise<void> {
    return this.execute<void>("device_del", { id }).then(() => undefined);
  }
  /** Puts an image file into a removable drive (by qdev id), read-only, replacing any medium. */
  changeMedium(id: string, filename: string, format: "raw" | "qcow2" = "raw"): Promise<void> {
    return this.execute<void>("blockdev-change-medium", {
      id,
      filename,
      format,
      "read-only-mode": "read-only",
    }).then(() => undefined);
  }
  /**
   * Writes what the display shows (the guest's scanout, or QEMU's own "Display output is not
   * active" screen) to `filename` as a binary PPM (P6); the file is complete when this resolves.
   */
  screendump(filename: string): Promise<void> {
    return this.execute<void>("screendump", { filename }).then(() => undefined);
  }
  /** Removes the medium of a removable drive (by qdev id), even when the guest has locked the tray. */
  eject(id: string): Promise<void> {
    return this.execute<void>("eject", { id, force: true }).then(() => undefined);
  }

  /**
   * Resolves with the first `name` event `match` accepts within `timeoutMs`, else null (also when
   * the socket closes or `signal` aborts). Subscribe before sending the command that causes the
   * event, or it may be missed.
   */
  waitForEvent(
    name: string,
    match: (ev: QmpEvent) => boolean,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<QmpEvent | null> {
    return new Promise((resolve) => {
      const done = (ev: QmpEvent | null) => {
        clearTimeout(timer);
        this.off(name, onEvent);
        this.off("close", onClose);
        signal?.removeEventListener("abort", onClose);
        resolve(ev);
      };
      const onEvent = (ev: QmpEvent) => {
        if (match(ev)) done(ev);
      };
      const onClose = () => done(null);
      const timer = setTimeout(() => done(null), timeoutMs);
      this.on(name, onEvent);
      this.once("close", onClose);
      signal?.addEventListener("abort", onClose);
      if (signal?.aborted) done(null);
    });
  }
  /** Terminates QEMU at once. Resolves on the reply or when QEMU closes the socket. */
  quit(opts?: { timeoutMs?: number }): Promise<void> {
    return this.execute<void>("quit", undefined, opts).then(() => undefined);
  }

  /** Detaches from the socket; the VM keeps running. Pending commands are rejected. */
  close(): Promise<void> {
    if (this.isClosed) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.once("close", () => resolve());
      this.teardown();
      this.socket.end();
      // end() waits for the peer; destroy soon after so close() cannot hang.
      setTimeout(() => this.socket.destroy(), 200).unref();
    });
  }

  private teardown(err?: Error): void {
    if (this.isClosed) return;
    this.isClosed = true;
    const failAll = (p: Pending) => {
      if (p.closeIsSuccess) p.resolve(undefined);
      else
        p.reject(new QmpConnectionError(`QMP ${p.command}: socket closed${err ? `: ${err.message}` : ""}`, "closed"));
    };
    if (this.inFlight) {
      clearTimeout(this.inFlight.timer);
      failAll(this.inFlight);
      this.inFlight = null;
    }
    for (const p of this.queue.splice(0)) failAll(p);
    if (err) this.socket.destroy();
    this.emit("close", err);
  }
}
