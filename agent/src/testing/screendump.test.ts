import { describe, expect, it } from "vitest";
import { bandShare, GUEST_MARK, parsePpm } from "./screendump";

/** A PPM of `w`x`h` whose first `rows` rows are `top` and the rest black. */
function ppm(w: number, h: number, rows: number, top: [number, number, number], header = `P6\n${w} ${h}\n255\n`) {
  const px = Buffer.alloc(w * h * 3);
  for (let p = 0; p < w * rows; p++) px.set(top, p * 3);
  return Buffer.concat([Buffer.from(header, "latin1"), px]);
}

describe("screendump PPM", () => {
  it("parses QEMU's P6 header (and comments) and measures a band of one colour", () => {
    const s = parsePpm(ppm(8, 6, 2, [0xd0, 0x30, 0x90]));
    expect([s.width, s.height, s.rgb.length]).toEqual([8, 6, 8 * 6 * 3]);
    expect(bandShare(s, GUEST_MARK, 2)).toBe(1);
    expect(bandShare(s, GUEST_MARK, 4)).toBe(0.5);
    expect(parsePpm(ppm(4, 2, 1, [0xc8, 0x3a, 0x84], "P6 # by hand\n4 2\n255\n")).width).toBe(4);
    // within 24 per channel (VNC JPEG, RGB565), not beyond
    expect(bandShare(parsePpm(ppm(4, 2, 1, [0xd0 - 24, 0x30 + 24, 0x90])), GUEST_MARK, 1)).toBe(1);
    expect(bandShare(parsePpm(ppm(4, 2, 1, [0xd0 - 25, 0x30, 0x90])), GUEST_MARK, 1)).toBe(0);
  });

  it("refuses what is not a complete 8-bit P6", () => {
    expect(() => parsePpm(Buffer.from("P3\n1 1\n255\n0 0 0\n"))).toThrow(/P6/);
    expect(() => parsePpm(ppm(4, 2, 0, [0, 0, 0]).subarray(0, 20))).toThrow(/needs 24 pixel bytes/);
    expect(() => parsePpm(Buffer.from("P6\n4"))).toThrow(/header ends early/);
  });
});
