import { describe, expect, it } from "vitest";
import {
  CLOSE,
  decodeClosePayload,
  encodeClosePayload,
  encodeFrame,
  FrameDecoder,
  MessageAssembler,
  OPCODE,
  WsProtocolError,
} from "./ws-frames";

const bytes = (s: string) => new TextEncoder().encode(s);
const MASK = new Uint8Array([1, 2, 3, 4]);

function decodeAll(role: "server" | "client", wire: Uint8Array, maxPayload = 1 << 20) {
  return new FrameDecoder({ role, maxPayload }).push(wire);
}

function protocolError(fn: () => unknown): number {
  try {
    fn();
  } catch (e) {
    if (e instanceof WsProtocolError) return e.closeCode;
    throw e;
  }
  throw new Error("no error");
}

describe("encodeFrame / FrameDecoder", () => {
  it("matches the RFC 6455 §5.7 examples", () => {
    // unmasked "Hello" from a server, masked "Hello" from a client
    expect([...encodeFrame(OPCODE.text, bytes("Hello"))]).toEqual([0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    const masked = encodeFrame(OPCODE.text, bytes("Hello"), { mask: new Uint8Array([0x37, 0xfa, 0x21, 0x3d]) });
    expect([...masked]).toEqual([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    const [f] = decodeAll("server", masked);
    expect(new TextDecoder().decode(f!.payload)).toBe("Hello");
    expect(f).toMatchObject({ fin: true, opcode: OPCODE.text, masked: true });
  });

  it.each([0, 125, 126, 65535, 65536, 200_000])(
    "round-trips a %i-byte payload (7/16/64-bit lengths), masked and not",
    (n) => {
      const payload = new Uint8Array(n).map((_, i) => i & 0xff);
      for (const [role, mask] of [
        ["client", undefined],
        ["server", MASK],
      ] as const) {
        const wire = encodeFrame(OPCODE.binary, payload, { mask });
        expect(wire.length).toBe(2 + (n < 126 ? 0 : n < 65536 ? 2 : 8) + (mask ? 4 : 0) + n);
        const frames = decodeAll(role, wire);
        expect(frames).toHaveLength(1);
        expect(Buffer.from(frames[0]!.payload).equals(Buffer.from(payload))).toBe(true);
      }
    },
  );

  it("reassembles frames split at every byte boundary, and several frames per chunk", () => {
    const wire = new Uint8Array([
      ...encodeFrame(OPCODE.text, bytes("abc"), { mask: MASK }),
      ...encodeFrame(OPCODE.ping, bytes("p"), { mask: MASK }),
      ...encodeFrame(OPCODE.binary, new Uint8Array(300), { mask: MASK }),
    ]);
    const d = new FrameDecoder({ role: "server", maxPayload: 1000 });
    const got = [];
    for (const b of wire) got.push(...d.push(new Uint8Array([b])));
    expect(got.map((f) => f.opcode)).toEqual([OPCODE.text, OPCODE.ping, OPCODE.binary]);
    expect(decodeAll("server", wire).map((f) => f.payload.length)).toEqual([3, 1, 300]);
  });

  it("enforces masking direction, RSV bits, opcodes, control-frame rules and the size limit", () => {
    expect(protocolError(() => decodeAll("server", encodeFrame(OPCODE.text, bytes("x"))))).toBe(CLOSE.protocol);
    expect(protocolError(() => decodeAll("client", encodeFrame(OPCODE.text, bytes("x"), { mask: MASK })))).toBe(
      CLOSE.protocol,
    );
    expect(protocolError(() => decodeAll("client", new Uint8Array([0xc1, 0x00])))).toBe(CLOSE.protocol); // RSV1
    expect(protocolError(() => decodeAll("client", new Uint8Array([0x83, 0x00])))).toBe(CLOSE.protocol); // opcode 3
    expect(protocolError(() => decodeAll("client", new Uint8Array([0x09, 0x00])))).toBe(CLOSE.protocol); // fragmented ping
    expect(protocolError(() => decodeAll("client", new Uint8Array([0x89, 126, 0, 126])))).toBe(CLOSE.protocol); // long ping
    expect(protocolError(() => decodeAll("client", new Uint8Array([0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0])))).toBe(
      CLOSE.protocol,
    );
    // the limit is checked from the header, before the payload arrives
    expect(protocolError(() => decodeAll("client", new Uint8Array([0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0]), 1024))).toBe(
      CLOSE.tooBig,
    );
    expect(() => encodeFrame(OPCODE.ping, new Uint8Array(126))).toThrow(WsProtocolError);
  });
});

describe("MessageAssembler", () => {
  const frames = (...parts: Array<[number, string, boolean]>) =>
    parts.map(([opcode, s, fin]) => ({ opcode, payload: bytes(s), fin, masked: false }));

  it("joins fragments and lets control frames interleave", () => {
    const a = new MessageAssembler(1000);
    const out = frames(
      [OPCODE.text, "hel", false],
      [OPCODE.ping, "!", true],
      [OPCODE.continuation, "lo ", false],
      [OPCODE.continuation, "wörld", true],
    ).map((f) => a.accept(f));
    expect(out).toEqual([null, { type: "ping", data: bytes("!") }, null, { type: "text", data: "hello wörld" }]);
  });

  it("refuses bad sequences, bad UTF-8 and oversize messages", () => {
    expect(protocolError(() => new MessageAssembler(100).accept(frames([OPCODE.continuation, "x", true])[0]!))).toBe(
      CLOSE.protocol,
    );
    const a = new MessageAssembler(100);
    a.accept(frames([OPCODE.text, "x", false])[0]!);
    expect(protocolError(() => a.accept(frames([OPCODE.binary, "y", true])[0]!))).toBe(CLOSE.protocol);
    expect(
      protocolError(() =>
        new MessageAssembler(100).accept({
          opcode: OPCODE.text,
          payload: new Uint8Array([0xc3, 0x28]),
          fin: true,
          masked: false,
        }),
      ),
    ).toBe(CLOSE.badData);
    const b = new MessageAssembler(4);
    b.accept(frames([OPCODE.binary, "abc", false])[0]!);
    expect(protocolError(() => b.accept(frames([OPCODE.continuation, "de", true])[0]!))).toBe(CLOSE.tooBig);
  });

  it("decodes close frames and validates their codes", () => {
    expect(decodeClosePayload(encodeClosePayload(1000, "bye"))).toEqual({ code: 1000, reason: "bye" });
    expect(decodeClosePayload(new Uint8Array(0))).toEqual({ code: 1005, reason: "" });
    expect(protocolError(() => decodeClosePayload(encodeClosePayload(1005)))).toBe(CLOSE.protocol);
    expect(protocolError(() => decodeClosePayload(encodeClosePayload(999)))).toBe(CLOSE.protocol);
    expect(protocolError(() => decodeClosePayload(new Uint8Array([3])))).toBe(CLOSE.protocol);
    expect(encodeClosePayload(1000, "é".repeat(100)).length).toBeLessThanOrEqual(125);
  });
});
