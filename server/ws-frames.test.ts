// Frame boundaries of a WebSocket byte stream, and the close frame as a real `ws` client reads it.
import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { WebSocket } from "ws";
import { closeFrame, FrameBoundary } from "./ws-frames";

/** One binary frame (RFC 6455 §5.2), masked as a client's or not as a server's. */
function frame(payload: Buffer, opts: { mask?: boolean } = {}): Buffer {
  const n = payload.length;
  const len = n < 126 ? [n] : n < 65_536 ? [126, n >> 8, n & 0xff] : [127, 0, 0, 0, 0, ...u32(n)];
  const mask = opts.mask ? [1, 2, 3, 4] : [];
  const body = opts.mask ? payload.map((b, i) => b ^ mask[i % 4]!) : payload;
  return Buffer.concat([Buffer.from([0x82, (opts.mask ? 0x80 : 0) | len[0]!, ...len.slice(1), ...mask]), body]);
}
const u32 = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];

describe("FrameBoundary", () => {
  const sizes = [0, 1, 125, 126, 127, 65_535, 65_536, 70_000];
  const stream = Buffer.concat(sizes.map((n, i) => frame(Buffer.alloc(n, i), { mask: i % 2 === 1 })));
  const ends: number[] = [];
  let at = 0;
  for (const n of sizes) {
    at += frame(Buffer.alloc(n), { mask: ends.length % 2 === 1 }).length;
    ends.push(at);
  }

  it("knows the boundaries whatever the chunking (7-bit, 16-bit and 64-bit lengths, masked or not)", () => {
    for (const chunk of [1, 3, 7, 1000, stream.length]) {
      const f = new FrameBoundary();
      for (let i = 0; i < stream.length; i += chunk) {
        const end = Math.min(i + chunk, stream.length);
        expect(f.feed(stream.subarray(i, end))).toBe(end - i);
        expect(f.atBoundary, `after byte ${end} in chunks of ${chunk}`).toBe(ends.includes(end));
      }
    }
  });

  it("with stopAtBoundary consumes only the rest of the frame under way", () => {
    const f = new FrameBoundary();
    expect(f.feed(stream.subarray(0, ends[3]! + 5))).toBe(ends[3]! + 5); // inside frame 4's header/payload
    expect(f.atBoundary).toBe(false);
    expect(f.feed(stream.subarray(ends[3]! + 5), true)).toBe(ends[4]! - ends[3]! - 5);
    expect(f.atBoundary).toBe(true);
    expect(f.feed(stream.subarray(ends[4]!), true)).toBe(0);
  });
});

describe("closeFrame", () => {
  /** What a `ws` client reports when a raw server answers its handshake and sends `bytes`. */
  async function clientSees(bytes: Buffer): Promise<{ code: number; reason: string }> {
    const server = net.createServer((sock) => {
      sock.once("data", (req) => {
        const key = /sec-websocket-key: (.+)\r\n/i.exec(req.toString())![1]!;
        const accept = createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
        sock.write(
          `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
        );
        sock.end(bytes);
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      return await new Promise((resolve, reject) => {
        ws.on("close", (code, reason) => resolve({ code, reason: reason.toString("utf8") }));
        ws.on("error", reject);
      });
    } finally {
      await new Promise((r) => server.close(r));
    }
  }

  it("is a close frame a WebSocket client accepts, with the code and the reason cut on a character boundary", async () => {
    expect(await clientSees(closeFrame(4403, "access revoked: your account was disabled"))).toEqual({
      code: 4403,
      reason: "access revoked: your account was disabled",
    });
    const cut = await clientSees(closeFrame(4403, "ä".repeat(100))); // 200 bytes
    expect(cut).toEqual({ code: 4403, reason: "ä".repeat(61) }); // 122 bytes, not half a character
  });
});
