// Serial consoles over WebSocket. QEMU's serial chardev is a unix socket *server that takes one
// client at a time*, so the agent holds one connection per VM and fans it out to every viewer;
// input from writers is merged into it. Scrollback comes from serial.log (QEMU logs all output).
import fsp from "node:fs/promises";
import net from "node:net";
import { CLOSE } from "../../../lib/ws-frames";
import { silentLogger, type Logger } from "../util";
import type { WebSocket } from "./ws";

export const SCROLLBACK_BYTES = 64 * 1024;

export interface ConsolePaths {
  serialSocket: string;
  serialLog: string;
  /** QEMU's VNC unix socket; null/absent when the VM has no graphical display (agent/src/console/vnc.ts) */
  vncSocket?: string | null;
}

/** The last `max` bytes of a file, starting at a UTF-8 character boundary; empty if missing. */
export async function readTail(file: string, max = SCROLLBACK_BYTES): Promise<Buffer> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, "r");
  } catch {
    return Buffer.alloc(0);
  }
  try {
    const { size } = await fh.stat();
    const start = Math.max(0, size - max);
    const buf = Buffer.alloc(size - start);
    const { bytesRead } = await fh.read(buf, 0, buf.length, start);
    let out = buf.subarray(0, bytesRead);
    if (start > 0) {
      let i = 0;
      while (i < out.length && i < 4 && (out[i]! & 0xc0) === 0x80) i++; // drop a cut multi-byte char
      out = out.subarray(i);
    }
    return out;
  } finally {
    await fh.close();
  }
}

type Client = { ws: WebSocket; write: boolean; pending: Buffer[] | null };

class SerialHub {
  readonly clients = new Set<Client>();
  private sock: net.Socket | null = null;
  private connecting: Promise<void> | null = null;
  private dead = false;

  constructor(
    readonly id: string,
    private readonly socketPath: string,
    private readonly log: Logger,
    private readonly onEmpty: (hub: SerialHub) => void,
  ) {}

  connect(): Promise<void> {
    return (this.connecting ??= new Promise<void>((resolve, reject) => {
      const s = net.createConnection(this.socketPath);
      s.once("connect", () => {
        s.setNoDelay?.(true);
        this.sock = s;
        resolve();
      });
      s.once("error", (e) => {
        if (!this.sock) reject(e);
      });
      s.on("data", (chunk: Buffer) => {
        for (const c of this.clients) {
          if (c.pending) c.pending.push(chunk);
          else c.ws.sendBinary(chunk);
        }
      });
      s.on("close", () => {
        if (!this.sock) return; // never connected: attach() reports that (1013 after the scrollback)
        // QEMU went away (VM stopped/restarted): viewers reconnect and get a fresh hub.
        this.shutdown(CLOSE.goingAway, "serial console closed (VM stopped or restarted)");
      });
    }));
  }

  input(data: Uint8Array): void {
    if (this.sock && !this.sock.destroyed) this.sock.write(data);
  }

  remove(c: Client): void {
    this.clients.delete(c);
    if (this.clients.size === 0) this.shutdown(CLOSE.normal, "");
  }

  shutdown(code: number, reason: string): void {
    if (this.dead) return;
    this.dead = true;
    this.onEmpty(this);
    this.sock?.destroy();
    for (const c of [...this.clients]) c.ws.close(code, reason);
    this.clients.clear();
    this.log("info", "console.hub_closed", { vmId: this.id, reason: reason || "no viewers" });
  }

  get isDead(): boolean {
    return this.dead;
  }
}

export class SerialConsoles {
  private readonly hubs = new Map<string, SerialHub>();
  private readonly log: Logger;
  private readonly scrollback: number;

  constructor(opts: { log?: Logger; scrollbackBytes?: number } = {}) {
    this.log = opts.log ?? silentLogger;
    this.scrollback = opts.scrollbackBytes ?? SCROLLBACK_BYTES;
  }

  /** Viewers currently attached to a VM's console (for tests and health). */
  viewers(id: string): number {
    return this.hubs.get(id)?.clients.size ?? 0;
  }

  /**
   * Sends the scrollback, then live output; input is forwarded only when `write`. The client is
   * registered before the log is read so nothing printed meanwhile is lost (it may repeat).
   */
  async attach(id: string, paths: ConsolePaths, ws: WebSocket, write: boolean): Promise<void> {
    let hub = this.hubs.get(id);
    if (!hub || hub.isDead) {
      hub = new SerialHub(id, paths.serialSocket, this.log, (h) => {
        if (this.hubs.get(id) === h) this.hubs.delete(id);
      });
      this.hubs.set(id, hub);
    }
    const h = hub;
    const client: Client = { ws, write, pending: [] };
    h.clients.add(client);
    ws.on("close", () => h.remove(client));
    const onInput = (data: Uint8Array) => {
      if (client.write) h.input(data);
    };
    ws.on("text", (s) => onInput(Buffer.from(s, "utf8")));
    ws.on("binary", onInput);
    this.log("info", "console.attached", { vmId: id, write, viewers: h.clients.size });

    let connectError: Error | null = null;
    await h.connect().catch((e: Error) => (connectError = e));
    const tail = await readTail(paths.serialLog, this.scrollback);
    if (tail.length) ws.sendBinary(tail);
    for (const c of client.pending ?? []) ws.sendBinary(c);
    client.pending = null;
    if (connectError) {
      // No QEMU listening: the scrollback is all there is. 1013 tells the client to retry later.
      this.log("info", "console.unavailable", { vmId: id, error: (connectError as Error).message });
      h.shutdown(CLOSE.tryAgain, "VM is not running");
    }
  }

  closeAll(): void {
    for (const h of [...this.hubs.values()]) h.shutdown(CLOSE.goingAway, "agent stopping");
  }
}
