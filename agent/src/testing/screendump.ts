// Test support: read a QEMU `screendump` (binary PPM, P6) and measure how much of a band of rows
// shows one colour — how the display tests tell the guest's own framebuffer (the mark drawn by
// scripts/fixtures/init.sh) from QEMU's "Display output is not active" screen.
import { readFileSync } from "node:fs";

export interface Rgb {
  r: number;
  g: number;
  b: number;
}

export interface Screen {
  width: number;
  height: number;
  /** 3 bytes per pixel, rows top to bottom */
  rgb: Buffer;
}

/** The colour scripts/fixtures/init.sh fills the first rows of /dev/fb0 with (#d03090). */
export const GUEST_MARK: Rgb = { r: 0xd0, g: 0x30, b: 0x90 };
/** Rows init.sh fills (DISPLAY_MARK_ROWS). */
export const GUEST_MARK_ROWS = 48;

/** Parses a binary PPM with maxval 255 (what QEMU's screendump writes). */
export function parsePpm(data: Buffer): Screen {
  // header: "P6" <ws> width <ws> height <ws> maxval <one ws byte>; '#' comments to end of line
  const fields: string[] = [];
  let i = 0;
  while (fields.length < 4) {
    while (i < data.length && /\s/.test(String.fromCharCode(data[i]!))) i++;
    if (data[i] === 0x23) {
      while (i < data.length && data[i] !== 0x0a) i++;
      continue;
    }
    const start = i;
    while (i < data.length && !/\s/.test(String.fromCharCode(data[i]!))) i++;
    if (start === i) throw new Error("PPM: header ends early");
    fields.push(data.subarray(start, i).toString("latin1"));
  }
  i++; // the single whitespace byte before the pixels
  const [magic, w, h, max] = fields;
  if (magic !== "P6" || max !== "255") throw new Error(`PPM: want P6 with maxval 255, got ${magic} maxval ${max}`);
  const width = Number(w);
  const height = Number(h);
  const rgb = data.subarray(i, i + width * height * 3);
  if (!(width > 0 && height > 0) || rgb.length !== width * height * 3)
    throw new Error(`PPM: ${width}x${height} needs ${width * height * 3} pixel bytes, has ${rgb.length}`);
  return { width, height, rgb };
}

export function readPpm(file: string): Screen {
  return parsePpm(readFileSync(file));
}

/** Whether two colours are within `tolerance` per channel (VNC/JPEG and RGB565 round colours). */
export function near(a: Rgb, b: Rgb, tolerance = 24): boolean {
  return Math.abs(a.r - b.r) <= tolerance && Math.abs(a.g - b.g) <= tolerance && Math.abs(a.b - b.b) <= tolerance;
}

/** Share (0..1) of the pixels in rows [0, rows) that show `colour`. */
export function bandShare(s: Screen, colour: Rgb, rows: number, tolerance = 24): number {
  const n = Math.min(rows, s.height) * s.width;
  let hit = 0;
  for (let p = 0; p < n; p++) {
    const o = p * 3;
    if (near({ r: s.rgb[o]!, g: s.rgb[o + 1]!, b: s.rgb[o + 2]! }, colour, tolerance)) hit++;
  }
  return n ? hit / n : 0;
}
