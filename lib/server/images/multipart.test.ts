import { describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { multipartBoundary, parseMultipart, type PartInfo } from "./multipart";

function streamOf(data: Buffer, chunkSizes: () => number): ReadableStream<Uint8Array> {
  let pos = 0;
  return new ReadableStream({
    pull(c) {
      if (pos >= data.length) return c.close();
      const n = Math.max(1, chunkSizes());
      c.enqueue(new Uint8Array(data.subarray(pos, pos + n)));
      pos += n;
    },
  });
}

async function collect(body: ReadableStream<Uint8Array>, boundary: string) {
  const parts: (PartInfo & { data: Buffer })[] = [];
  await parseMultipart(body, boundary, (info) => {
    const chunks: Buffer[] = [];
    return { write: (c) => void chunks.push(Buffer.from(c)), end: () => void parts.push({ ...info, data: Buffer.concat(chunks) }) };
  });
  return parts;
}

const B = "XyZ-boundary-123";
// Payload full of near-misses: CRLF, dashes and a boundary prefix that is not a delimiter.
const tricky = Buffer.concat([Buffer.from(`\r\n--${B.slice(0, 10)}\r\n--\r\n`), randomBytes(70_000), Buffer.from(`\r\n-${B}`)]);
const body = Buffer.concat([
  Buffer.from(`preamble to ignore\r\n--${B}\r\nContent-Disposition: form-data; name="name"\r\n\r\ndebian 12\r\n`),
  Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="file"; filename="d\\"isk.img"\r\nContent-Type: application/octet-stream\r\n\r\n`),
  tricky,
  Buffer.from(`\r\n--${B}--\r\nepilogue`),
]);

describe("parseMultipart", () => {
  it.each([
    ["1-byte chunks", () => 1],
    ["random chunks", () => Math.floor(Math.random() * 5000)],
    ["one chunk", () => body.length],
  ])("splits fields and files exactly with %s", async (_n, sizes) => {
    const parts = await collect(streamOf(body, sizes), B);
    expect(parts.map((p) => p.name)).toEqual(["name", "file"]);
    expect(parts[0]!.data.toString()).toBe("debian 12");
    expect(parts[0]!.filename).toBeNull();
    expect(parts[1]!.filename).toBe('d"isk.img');
    expect(parts[1]!.data.equals(tricky)).toBe(true);
  });

  it("finds the closing delimiter wherever a chunk boundary cuts it", async () => {
    const end = body.indexOf(Buffer.from(`\r\n--${B}--`));
    for (let cut = end - 200; cut <= end + B.length + 6; cut++) {
      // Chunks end exactly at `cut`; the next ones are long enough for the copy-free path.
      let step = 0;
      const sizes = () => (step++ === 0 ? cut - 5000 : step === 2 ? 5000 : 4096);
      const parts = await collect(streamOf(body, sizes), B);
      expect(parts[1]!.data.equals(tricky), `cut at ${cut}`).toBe(true);
    }
  });

  it("refuses a body that ends before the closing boundary (interrupted upload)", async () => {
    await expect(collect(streamOf(body.subarray(0, body.length - 40), () => 1000), B)).rejects.toMatchObject({ code: "invalid", message: expect.stringMatching(/interrupted|closing/) });
  });

  it("reports a stream error as an interrupted upload", async () => {
    let n = 0;
    const failing = new ReadableStream<Uint8Array>({ pull: (c) => (n++ < 3 ? c.enqueue(new Uint8Array(body.subarray(0, 10))) : c.error(new Error("ECONNRESET"))) });
    await expect(collect(failing, B)).rejects.toMatchObject({ code: "invalid", message: expect.stringMatching(/interrupted/) });
  });

  it("refuses a body with a different boundary, and parts without a name", async () => {
    await expect(collect(streamOf(Buffer.alloc(100_000, 0x41), () => 4096), B)).rejects.toMatchObject({ code: "invalid" });
    const noName = Buffer.from(`--${B}\r\nContent-Disposition: form-data\r\n\r\nx\r\n--${B}--\r\n`);
    await expect(collect(streamOf(noName, () => 7), B)).rejects.toMatchObject({ message: expect.stringMatching(/no field name/) });
  });

  it("stops at the abort signal", async () => {
    const ac = new AbortController();
    let cancelled = false;
    const endless = new ReadableStream<Uint8Array>({
      pull: (c) => new Promise((r) => setTimeout(() => { if (!cancelled) c.enqueue(new Uint8Array(10)); r(); }, 5)),
      cancel: () => void (cancelled = true),
    });
    setTimeout(() => ac.abort(), 30);
    await expect(parseMultipart(endless, B, () => ({ write() {}, end() {} }), { signal: ac.signal, maxPreambleBytes: 1e9 })).rejects.toMatchObject({ code: "invalid" });
    expect(cancelled).toBe(true);
  });
});

describe("multipartBoundary", () => {
  it("reads quoted and bare boundaries and refuses other content types", () => {
    expect(multipartBoundary(`multipart/form-data; boundary=${B}`)).toBe(B);
    expect(multipartBoundary(`multipart/form-data; charset=utf-8; boundary="a b"`)).toBe("a b");
    expect(() => multipartBoundary("application/json")).toThrow(/multipart\/form-data/);
    expect(() => multipartBoundary("multipart/form-data")).toThrow(/boundary/);
  });
});
