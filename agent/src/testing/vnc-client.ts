// A minimal RFB 3.8 client over the console WebSocket (agent/src/console/ws.ts), for tests and
// tools (never used by the agent itself): handshake with security None, one full raw framebuffer
// update, key events.
import type { WebSocket } from "../console";

/** Reads an RFB stream arriving as binary WebSocket messages. */
export class RfbReader {
  private buf = Buffer.alloc(0);
  private wake: (() => void) | null = null;
  closed: number | null = null;
  constructor(ws: WebSocket) {
    ws.on("binary", (b) => {
      this.buf = Buffer.concat([this.buf, b]);
      this.wake?.();
    });
    ws.on("close", (code) => {
      this.closed = code;
      this.wake?.();
    });
  }

  async read(n: number, ms = 30_000): Promise<Buffer> {
    const end = Date.now() + ms;
    while (this.buf.length < n) {
      if (this.closed !== null) throw new Error(`RFB connection closed (${this.closed}) while reading`);
      if (Date.now() > end) throw new Error(`timed out reading ${n} RFB bytes`);
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 100);
      });
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
}

export interface Framebuffer {
  width: number;
  height: number;
  name: string;
  /** distinct 24-bit colours in the first update that carried pixels */
  colours: number;
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`RFB: ${what}`);
}

/** Handshake (RFB 3.8, security None, shared) and one full raw framebuffer update. */
export async function grabFramebuffer(ws: WebSocket, reader = new RfbReader(ws)): Promise<Framebuffer> {
  const r = reader;
  const version = (await r.read(12)).toString("latin1");
  check(/^RFB 003\.00[378]\n$/.test(version), `unexpected server version ${JSON.stringify(version)}`);
  ws.sendBinary(Buffer.from("RFB 003.008\n"));
  const nTypes = (await r.read(1))[0]!;
  check([...(await r.read(nTypes))].includes(1), "the server does not offer security type None");
  ws.sendBinary(Buffer.from([1]));
  check((await r.read(4)).readUInt32BE(0) === 0, "security handshake failed");
  ws.sendBinary(Buffer.from([1])); // ClientInit, shared
  const init = await r.read(24);
  const width = init.readUInt16BE(0);
  const height = init.readUInt16BE(2);
  const bytesPerPixel = init[4]! / 8;
  const name = (await r.read(init.readUInt32BE(20))).toString("utf8");
  ws.sendBinary(Buffer.from([2, 0, 0, 1, 0, 0, 0, 0])); // SetEncodings [raw]
  const req = Buffer.alloc(10);
  req[0] = 3;
  req.writeUInt16BE(width, 6);
  req.writeUInt16BE(height, 8);
  ws.sendBinary(req); // FramebufferUpdateRequest, full screen
  const colours = new Set<number>();
  for (;;) {
    const head = await r.read(4);
    check(head[0] === 0, `expected a FramebufferUpdate, got message ${head[0]}`);
    let pixels = 0;
    for (let i = head.readUInt16BE(2); i > 0; i--) {
      const rh = await r.read(12);
      const w = rh.readUInt16BE(4);
      const h = rh.readUInt16BE(6);
      if (rh.readInt32BE(8) !== 0) continue; // pseudo-encodings carry no pixels
      const data = await r.read(w * h * bytesPerPixel);
      for (let o = 0; o < data.length; o += bytesPerPixel) colours.add(data.readUIntLE(o, bytesPerPixel) & 0xffffff);
      pixels += w * h;
    }
    if (pixels > 0) break;
  }
  return { width, height, name, colours: colours.size };
}

/** RFB KeyEvents: [down, keysym] pairs in order. */
export function sendKeys(ws: WebSocket, keys: ReadonlyArray<readonly [0 | 1, number]>): void {
  for (const [down, sym] of keys) {
    const b = Buffer.alloc(8);
    b[0] = 4;
    b[1] = down;
    b.writeUInt32BE(sym, 4);
    ws.sendBinary(b);
  }
}

/**
 * Alt+SysRq+H: the guest kernel answers on its console ("sysrq: HELP ..." or "... disabled"), so
 * keys reaching a guest can be seen on the serial console without any program reading tty1.
 */
export const SYSRQ_H = [
  [1, 0xffe9],
  [1, 0xff15],
  [1, 0x68],
  [0, 0x68],
  [0, 0xff15],
  [0, 0xffe9],
] as const;
export const SYSRQ_ANSWER = /sysrq: (HELP|This sysrq operation is disabled)/g;
