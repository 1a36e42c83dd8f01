import { describe, expect, it } from "vitest";
import { ReadOnlyRfbFilter, RfbFilterError } from "./vnc-filter";

const u16 = (n: number) => [n >> 8, n & 255];
const u32 = (n: number) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
const handshake = () => [...Buffer.from("RFB 003.008\n"), 1, 0]; // version, security None, ClientInit(shared=0)
const msg = {
  setPixelFormat: () => [0, 0, 0, 0, 32, 24, 0, 1, ...u16(255), ...u16(255), ...u16(255), 16, 8, 0, 0, 0, 0],
  setEncodings: (...e: number[]) => [2, 0, ...u16(e.length), ...e.flatMap(u32)],
  fbRequest: () => [3, 1, ...u16(0), ...u16(0), ...u16(640), ...u16(480)],
  key: (down = 1) => [4, down, 0, 0, ...u32(0x61)],
  pointer: () => [5, 1, ...u16(10), ...u16(20)],
  cut: (text: string) => [6, 0, 0, 0, ...u32(text.length), ...Buffer.from(text)],
  extCut: (n: number) => [6, 0, 0, 0, ...u32(-n >>> 0), ...Array(n).fill(7)],
  contUpdates: () => [150, 1, ...u16(0), ...u16(0), ...u16(640), ...u16(480)],
  fence: (payload: number[]) => [248, 0, 0, 0, ...u32(0x80000000), payload.length, ...payload],
  xvp: () => [250, 0, 1, 2],
  setDesktopSize: () => [
    251,
    0,
    ...u16(800),
    ...u16(600),
    1,
    0,
    ...u32(0),
    ...u16(0),
    ...u16(0),
    ...u16(800),
    ...u16(600),
    ...u32(0),
  ],
  qemuKey: () => [255, 0, ...u16(1), ...u32(0x61), ...u32(30)],
  qemuAudio: (op: number) => (op === 2 ? [255, 1, ...u16(2), 3, 2, ...u32(44100)] : [255, 1, ...u16(op)]),
};

function run(bytes: number[], chunk = bytes.length) {
  const f = new ReadOnlyRfbFilter();
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i += chunk) out.push(...f.push(Uint8Array.from(bytes.slice(i, i + chunk))));
  return { out, f };
}

describe("ReadOnlyRfbFilter", () => {
  const watching = [
    ...msg.setPixelFormat(),
    ...msg.setEncodings(0, 7, -223, -258),
    ...msg.fbRequest(),
    ...msg.contUpdates(),
    ...msg.fence([1, 2, 3]),
    ...msg.qemuAudio(0),
    ...msg.qemuAudio(2),
  ];
  const acting = [
    ...msg.key(1),
    ...msg.key(0),
    ...msg.pointer(),
    ...msg.cut("rm -rf /"),
    ...msg.extCut(12),
    ...msg.xvp(),
    ...msg.setDesktopSize(),
    ...msg.qemuKey(),
  ];

  it.each([1, 3, 7, 1000])(
    "forwards what watching needs and drops every input message (chunks of %i bytes)",
    (chunk) => {
      const interleaved = [
        ...handshake(),
        ...msg.fbRequest(),
        ...acting,
        ...watching,
        ...msg.pointer(),
        ...msg.fbRequest(),
      ];
      const { out, f } = run(interleaved, chunk);
      // ClientInit's shared flag is forced to 1: a viewer cannot take the display exclusively
      expect(out).toEqual([...Buffer.from("RFB 003.008\n"), 1, 1, ...msg.fbRequest(), ...watching, ...msg.fbRequest()]);
      expect(f.stats).toEqual({ forwardedMessages: 9, droppedMessages: 9 });
    },
  );

  it("holds a partial message until it is complete", () => {
    const f = new ReadOnlyRfbFilter();
    expect([...f.push(Uint8Array.from(handshake()))]).toEqual([...Buffer.from("RFB 003.008\n"), 1, 1]);
    const req = msg.fbRequest();
    expect(f.push(Uint8Array.from(req.slice(0, 4))).length).toBe(0);
    expect([...f.push(Uint8Array.from(req.slice(4)))]).toEqual(req);
  });

  it("fails closed on what it cannot parse", () => {
    const bad: Array<[string, number[]]> = [
      ["RFB 3.3 (server-chosen security)", [...Buffer.from("RFB 003.003\n")]],
      ["garbage version", [...Buffer.from("GET / HTTP/1")]],
      ["VNC password auth", [...Buffer.from("RFB 003.008\n"), 2]],
      ["unknown message type", [...handshake(), 42]],
      ["gii input (253)", [...handshake(), 253, 0, 0, 4]],
      ["unknown QEMU submessage", [...handshake(), 255, 9]],
      ["unknown QEMU audio op", [...handshake(), 255, 1, 0, 9]],
      ["huge clipboard", [...handshake(), 6, 0, 0, 0, ...u32(64 * 1024 * 1024)]],
    ];
    for (const [what, bytes] of bad) expect(() => run(bytes), what).toThrow(RfbFilterError);
  });
});
