// Graphical console: one WebSocket ↔ one connection to QEMU's VNC unix socket (QEMU serves many
// clients; -vnc share=force-shared keeps them from kicking each other). Binary frames carry the
// raw RFB stream both ways (noVNC speaks RFB itself). Read-only connections pass the client's
// stream through ReadOnlyRfbFilter, so a viewer's keys and pointer never reach the guest whatever
// its browser sends.
import net from "node:net";
import { CLOSE } from "../../../lib/ws-frames";
import { silentLogger, type Logger } from "../util";
import { ReadOnlyRfbFilter, RfbFilterError } from "./vnc-filter";
import type { WebSocket } from "./ws";

/** Pause reading from QEMU while this much is queued for a slow browser. */
const HIGH_WATER = 1024 * 1024;

export class VncBridges {
  private readonly open = new Set<{ ws: WebSocket; sock: net.Socket }>();
  private readonly log: Logger;

  constructor(opts: { log?: Logger } = {}) {
    this.log = opts.log ?? silentLogger;
  }

  get size(): number {
    return this.open.size;
  }

  /** Connects `ws` to the VNC socket; closes it with 1013 when QEMU is not listening. */
  attach(id: string, vncSocket: string, ws: WebSocket, write: boolean): Promise<void> {
    return new Promise((resolve) => {
      const sock = net.createConnection(vncSocket);
      const filter = write ? null : new ReadOnlyRfbFilter();
      let connected = false;
      const pair = { ws, sock };
      const pending: Buffer[] = [];
      let failed = false;

      const toServer = (data: Uint8Array) => {
        if (failed) return;
        let out: Uint8Array = data;
        if (filter) {
          try {
            out = filter.push(data);
          } catch (e) {
            failed = true;
            const why = e instanceof RfbFilterError ? e.message : "bad RFB stream";
            this.log("warn", "vnc.refused_input", { vmId: id, error: why });
            ws.close(CLOSE.policy, `read-only VNC: ${why}`.slice(0, 120));
            sock.destroy();
            return;
          }
          if (out.length === 0) return;
        }
        if (connected) sock.write(out);
        else pending.push(Buffer.from(out));
      };
      ws.on("binary", toServer);
      // noVNC sends binary frames only; a text frame is not RFB.
      ws.on("text", () => toServer(Buffer.alloc(0)));
      ws.on("close", () => {
        sock.destroy();
        this.open.delete(pair);
      });

      sock.once("connect", () => {
        connected = true;
        sock.setNoDelay(true);
        this.open.add(pair);
        for (const p of pending.splice(0)) sock.write(p);
        this.log("info", "vnc.attached", { vmId: id, write, clients: this.open.size });
        resolve();
      });
      sock.on("data", (chunk: Buffer) => {
        if (ws.buffered + chunk.length <= HIGH_WATER) return ws.sendBinary(chunk);
        // A slow browser: stop reading QEMU until this chunk, and so all before it, is on the wire.
        sock.pause();
        ws.sendBinary(chunk, () => sock.resume());
      });
      sock.on("error", (e) => {
        if (!connected) {
          this.log("info", "vnc.unavailable", { vmId: id, error: e.message });
          ws.close(CLOSE.tryAgain, "VM is not running");
          resolve();
        }
      });
      sock.on("close", () => {
        if (connected) ws.close(CLOSE.goingAway, "display closed (VM stopped or restarted)");
        this.open.delete(pair);
      });
    });
  }

  closeAll(): void {
    for (const { ws, sock } of [...this.open]) {
      ws.close(CLOSE.goingAway, "agent stopping");
      sock.destroy();
    }
    this.open.clear();
  }
}
