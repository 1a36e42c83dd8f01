// Read-only VNC: a streaming parser of the RFB client→server byte stream (RFC 6143 plus the
// extensions noVNC and QEMU speak) that forwards what a viewer needs to *watch* and drops every
// message that would act on the guest: keys, pointer, clipboard, resize, power (XVP), QEMU's
// extended key events. Anything it cannot parse ends the connection (fail closed), because one
// misread length would let the following bytes through as arbitrary messages. Pure, no I/O.

export class RfbFilterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RfbFilterError";
  }
}

/** RFB client message types (RFC 6143 §7.5 and the registry). */
export const RFB_MSG = {
  setPixelFormat: 0,
  setEncodings: 2,
  framebufferUpdateRequest: 3,
  keyEvent: 4,
  pointerEvent: 5,
  clientCutText: 6,
  enableContinuousUpdates: 150,
  clientFence: 248,
  xvp: 250,
  setDesktopSize: 251,
  qemu: 255,
} as const;

const MAX_CUT_TEXT = 1024 * 1024;

type Phase = "version" | "security" | "clientInit" | "messages";

export interface RfbFilterStats {
  forwardedMessages: number;
  droppedMessages: number;
}

/**
 * push(bytes) returns the bytes to forward to the VNC server (possibly empty); partial messages
 * are held until complete. Throws RfbFilterError on anything unexpected.
 */
export class ReadOnlyRfbFilter {
  private phase: Phase = "version";
  private buf: Buffer = Buffer.alloc(0);
  readonly stats: RfbFilterStats = { forwardedMessages: 0, droppedMessages: 0 };

  push(chunk: Uint8Array): Buffer {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : Buffer.from(chunk);
    const out: Buffer[] = [];
    for (;;) {
      const need = this.nextLength();
      if (need === null || this.buf.length < need) break;
      const msg = this.buf.subarray(0, need);
      this.buf = this.buf.subarray(need);
      const keep = this.accept(msg);
      if (keep) out.push(keep);
    }
    // A client never has a reason to leave a huge partial message pending.
    if (this.buf.length > MAX_CUT_TEXT + 16) throw new RfbFilterError("client message too large");
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }

  /** Length of the next complete unit in `buf`, or null when more bytes are needed to know it. */
  private nextLength(): number | null {
    const b = this.buf;
    switch (this.phase) {
      case "version":
        return 12;
      case "security":
      case "clientInit":
        return 1;
      case "messages": {
        if (b.length < 1) return null;
        const type = b[0]!;
        switch (type) {
          case RFB_MSG.setPixelFormat:
            return 20;
          case RFB_MSG.setEncodings:
            return b.length < 4 ? null : 4 + 4 * b.readUInt16BE(2);
          case RFB_MSG.framebufferUpdateRequest:
            return 10;
          case RFB_MSG.keyEvent:
            return 8;
          case RFB_MSG.pointerEvent:
            return 6;
          case RFB_MSG.clientCutText: {
            if (b.length < 8) return null;
            // Extended clipboard sends a negative length; the payload is |length| bytes either way.
            const len = Math.abs(b.readInt32BE(4));
            if (len > MAX_CUT_TEXT) throw new RfbFilterError(`clipboard message of ${len} bytes refused`);
            return 8 + len;
          }
          case RFB_MSG.enableContinuousUpdates:
            return 10;
          case RFB_MSG.clientFence:
            return b.length < 9 ? null : 9 + b[8]!;
          case RFB_MSG.xvp:
            return 4;
          case RFB_MSG.setDesktopSize:
            return b.length < 8 ? null : 8 + 16 * b[6]!;
          case RFB_MSG.qemu: {
            if (b.length < 2) return null;
            const sub = b[1]!;
            if (sub === 0) return 12; // extended key event
            if (sub === 1) {
              // audio: u16 operation (0 enable, 1 disable, 2 set format + 6 bytes)
              if (b.length < 4) return null;
              const op = b.readUInt16BE(2);
              if (op === 0 || op === 1) return 4;
              if (op === 2) return 10;
              throw new RfbFilterError(`unknown QEMU audio operation ${op}`);
            }
            throw new RfbFilterError(`unknown QEMU client message ${sub}`);
          }
          default:
            throw new RfbFilterError(`unknown RFB client message type ${type}`);
        }
      }
    }
  }

  /** The bytes to forward for one complete unit, or null to drop it. */
  private accept(msg: Buffer): Buffer | null {
    switch (this.phase) {
      case "version": {
        const v = msg.toString("latin1");
        // 3.3 lets the server pick the security type, which this filter cannot see: refuse it.
        if (v !== "RFB 003.008\n" && v !== "RFB 003.007\n")
          throw new RfbFilterError(`unsupported RFB version ${JSON.stringify(v)}`);
        this.phase = "security";
        return msg;
      }
      case "security":
        // QEMU's unix-socket VNC has no password: only security type None (1) is expected.
        if (msg[0] !== 1) throw new RfbFilterError(`security type ${msg[0]} not supported read-only`);
        this.phase = "clientInit";
        return msg;
      case "clientInit":
        this.phase = "messages";
        // shared-flag forced on: a viewer may never ask for exclusive access.
        return Buffer.from([1]);
      case "messages": {
        const type = msg[0]!;
        const input =
          type === RFB_MSG.keyEvent ||
          type === RFB_MSG.pointerEvent ||
          type === RFB_MSG.clientCutText ||
          type === RFB_MSG.xvp ||
          type === RFB_MSG.setDesktopSize ||
          (type === RFB_MSG.qemu && msg[1] === 0);
        if (input) {
          this.stats.droppedMessages++;
          return null;
        }
        this.stats.forwardedMessages++;
        return msg;
      }
    }
  }
}
