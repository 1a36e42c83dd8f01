// A small, pure DEFLATE/gzip decoder (a port of Mark Adler's puff.c) that stops after `maxOut`
// bytes. Header detection needs only the first kilobytes of a compressed kernel or initrd, so
// decoding a prefix is both faster than a full gunzip and immune to decompression bombs; being
// pure it also runs in the browser (no node:zlib).

export interface InflateResult {
  /** Decoded bytes (at most maxOut). */
  out: Uint8Array;
  /** True when the stream ended before the limit was reached. */
  complete: boolean;
}

export class InflateError extends Error {}

class OutputFull extends Error {}

interface Huffman {
  count: Uint16Array;
  symbol: Uint16Array;
}

const LBASE = [
  3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258,
];
const LEXT = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DBASE = [
  1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
  8193, 12289, 16385, 24577,
];
const DEXT = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const CL_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/** Builds a canonical Huffman decoding table; returns >0 for incomplete, <0 for over-subscribed codes. */
function construct(h: Huffman, lengths: ArrayLike<number>, n: number): number {
  h.count.fill(0);
  for (let s = 0; s < n; s++) h.count[lengths[s]!]!++;
  if (h.count[0] === n) return 0;
  let left = 1;
  for (let len = 1; len <= 15; len++) {
    left <<= 1;
    left -= h.count[len]!;
    if (left < 0) return left;
  }
  const offs = new Uint16Array(16);
  for (let len = 1; len < 15; len++) offs[len + 1] = offs[len]! + h.count[len]!;
  for (let s = 0; s < n; s++) if (lengths[s] !== 0) h.symbol[offs[lengths[s]!]!++] = s;
  return left;
}

function huffman(size: number): Huffman {
  return { count: new Uint16Array(16), symbol: new Uint16Array(size) };
}

class Inflater {
  private pos: number;
  private bitbuf = 0;
  private bitcnt = 0;
  readonly out: Uint8Array;
  outcnt = 0;

  constructor(
    private readonly input: Uint8Array,
    start: number,
    maxOut: number,
  ) {
    this.pos = start;
    this.out = new Uint8Array(maxOut);
  }

  private bits(need: number): number {
    let val = this.bitbuf;
    while (this.bitcnt < need) {
      if (this.pos >= this.input.length) throw new InflateError("compressed data ends early (truncated file?)");
      val |= this.input[this.pos++]! << this.bitcnt;
      this.bitcnt += 8;
    }
    this.bitbuf = val >>> need;
    this.bitcnt -= need;
    return val & ((1 << need) - 1);
  }

  private put(byte: number): void {
    if (this.outcnt >= this.out.length) throw new OutputFull();
    this.out[this.outcnt++] = byte;
  }

  private stored(): void {
    this.bitbuf = 0;
    this.bitcnt = 0;
    if (this.pos + 4 > this.input.length) throw new InflateError("compressed data ends early (truncated file?)");
    const len = this.input[this.pos]! | (this.input[this.pos + 1]! << 8);
    const nlen = this.input[this.pos + 2]! | (this.input[this.pos + 3]! << 8);
    this.pos += 4;
    if (len !== (~nlen & 0xffff)) throw new InflateError("corrupt stored block");
    if (this.pos + len > this.input.length) throw new InflateError("compressed data ends early (truncated file?)");
    for (let i = 0; i < len; i++) this.put(this.input[this.pos++]!);
  }

  private decode(h: Huffman): number {
    let code = 0;
    let first = 0;
    let index = 0;
    for (let len = 1; len <= 15; len++) {
      code |= this.bits(1);
      const count = h.count[len]!;
      if (code - count < first) return h.symbol[index + (code - first)]!;
      index += count;
      first += count;
      first <<= 1;
      code <<= 1;
    }
    throw new InflateError("invalid Huffman code");
  }

  private codes(lencode: Huffman, distcode: Huffman): void {
    for (;;) {
      let symbol = this.decode(lencode);
      if (symbol < 256) this.put(symbol);
      else if (symbol === 256) return;
      else {
        symbol -= 257;
        if (symbol >= 29) throw new InflateError("invalid length symbol");
        const len = LBASE[symbol]! + this.bits(LEXT[symbol]!);
        const dsym = this.decode(distcode);
        if (dsym >= 30) throw new InflateError("invalid distance symbol");
        const dist = DBASE[dsym]! + this.bits(DEXT[dsym]!);
        if (dist > this.outcnt) throw new InflateError("distance too far back");
        for (let i = 0; i < len; i++) this.put(this.out[this.outcnt - dist]!);
      }
    }
  }

  private fixed(): void {
    const lengths = new Uint8Array(288);
    for (let s = 0; s < 144; s++) lengths[s] = 8;
    for (let s = 144; s < 256; s++) lengths[s] = 9;
    for (let s = 256; s < 280; s++) lengths[s] = 7;
    for (let s = 280; s < 288; s++) lengths[s] = 8;
    const lencode = huffman(288);
    construct(lencode, lengths, 288);
    const distcode = huffman(30);
    construct(distcode, new Uint8Array(30).fill(5), 30);
    this.codes(lencode, distcode);
  }

  private dynamic(): void {
    const nlen = this.bits(5) + 257;
    const ndist = this.bits(5) + 1;
    const ncode = this.bits(4) + 4;
    if (nlen > 286 || ndist > 30) throw new InflateError("bad dynamic block counts");
    const lengths = new Uint8Array(320);
    for (let i = 0; i < ncode; i++) lengths[CL_ORDER[i]!] = this.bits(3);
    const lencode = huffman(288);
    if (construct(lencode, lengths, 19) !== 0) throw new InflateError("incomplete code-length code");
    let index = 0;
    while (index < nlen + ndist) {
      const symbol = this.decode(lencode);
      if (symbol < 16) lengths[index++] = symbol;
      else {
        let len = 0;
        let repeat: number;
        if (symbol === 16) {
          if (index === 0) throw new InflateError("repeat with no first length");
          len = lengths[index - 1]!;
          repeat = 3 + this.bits(2);
        } else if (symbol === 17) repeat = 3 + this.bits(3);
        else repeat = 11 + this.bits(7);
        if (index + repeat > nlen + ndist) throw new InflateError("too many lengths");
        while (repeat--) lengths[index++] = len;
      }
    }
    if (lengths[256] === 0) throw new InflateError("no end-of-block code");
    const err = construct(lencode, lengths, nlen);
    if (err < 0 || (err > 0 && nlen - lencode.count[0]! !== 1)) throw new InflateError("bad literal/length code");
    const distcode = huffman(30);
    const derr = construct(distcode, lengths.subarray(nlen), ndist);
    if (derr < 0 || (derr > 0 && ndist - distcode.count[0]! !== 1)) throw new InflateError("bad distance code");
    this.codes(lencode, distcode);
  }

  run(): boolean {
    try {
      let last: number;
      do {
        last = this.bits(1);
        const type = this.bits(2);
        if (type === 0) this.stored();
        else if (type === 1) this.fixed();
        else if (type === 2) this.dynamic();
        else throw new InflateError("invalid block type 3");
      } while (!last);
      return true;
    } catch (e) {
      if (e instanceof OutputFull) return false;
      throw e;
    }
  }
}

/** Decodes a raw DEFLATE stream starting at `start`, up to `maxOut` bytes. Throws InflateError on corrupt data. */
export function inflateRaw(input: Uint8Array, start: number, maxOut: number): InflateResult {
  const inf = new Inflater(input, start, maxOut);
  const complete = inf.run();
  return { out: inf.out.subarray(0, inf.outcnt), complete };
}

/** Offset of the DEFLATE data inside a gzip member, or throws InflateError for a bad header. */
export function gzipDataOffset(input: Uint8Array): number {
  if (input.length < 18 || input[0] !== 0x1f || input[1] !== 0x8b) throw new InflateError("not gzip data");
  if (input[2] !== 8) throw new InflateError(`gzip compression method ${input[2]} is not deflate`);
  const flags = input[3]!;
  let pos = 10;
  if (flags & 4) pos += 2 + (input[10]! | (input[11]! << 8)); // FEXTRA
  if (flags & 8) while (pos < input.length && input[pos++] !== 0); // FNAME
  if (flags & 16) while (pos < input.length && input[pos++] !== 0); // FCOMMENT
  if (flags & 2) pos += 2; // FHCRC
  if (pos >= input.length) throw new InflateError("gzip header runs past the end of the data");
  return pos;
}

/** Decodes the first `maxOut` bytes of a gzip member (CRC is not checked: we only want a prefix). */
export function gunzipPrefix(input: Uint8Array, maxOut: number): InflateResult {
  return inflateRaw(input, gzipDataOffset(input), maxOut);
}
