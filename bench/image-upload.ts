// Upload throughput of the image service's streaming path (multipart parse by busboy → disk write
// + sha256) for a 1 GiB image, against `cp` of the same file on the same disk, and this process's
// peak RSS while it runs (the path must not buffer the file). The body is a Web Request built from
// a file stream, as the route handler receives it; HTTP, auth, the database and qemu-img are left
// out. "parse only" sends the file part to a sink that drops it: the parser's own cost.
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, existsSync, mkdtempSync, openSync, rmSync, statSync, writeSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { hashingFileSink } from "../lib/server/images";
import { multipartBoundary, parseMultipart, type PartSink } from "../lib/server/images";
import { multipartRequest } from "../lib/server/testing/multipart-body";
import { printTable } from "./table";

const MiB = 1024 * 1024;
const SIZE = 1024 * MiB;
const RUNS = Number(process.env.BENCH_UPLOAD_RUNS ?? 2);
/** Kept between runs (random data, written once); delete it by hand to reclaim 1 GiB. */
const SOURCE = join(tmpdir(), "polyarch-bench-image-1g.bin");

function ensureSource(): void {
  if (existsSync(SOURCE) && statSync(SOURCE).size === SIZE) return;
  const fd = openSync(SOURCE, "w");
  try {
    for (let off = 0; off < SIZE; off += 16 * MiB) writeSync(fd, randomBytes(16 * MiB));
  } finally {
    closeSync(fd);
  }
}

/** Samples this process's RSS every 50 ms while `fn` runs; returns its duration and the peak. */
async function withRss<T>(fn: () => Promise<T>): Promise<{ ms: number; peakRss: number; result: T }> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  const t = performance.now();
  try {
    const result = await fn();
    return { ms: performance.now() - t, peakRss: Math.max(peak, process.memoryUsage().rss), result };
  } finally {
    clearInterval(timer);
  }
}

/** The ceiling for any path that hashes on one thread: read + sha256, no parsing, no writing. */
async function hashOnly(): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(SOURCE, { highWaterMark: 256 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

async function streamUpload(dest: string | null): Promise<void> {
  const req = multipartRequest([
    { name: "name", value: "bench" },
    { name: "format", value: "raw" },
    { name: "file", path: SOURCE, filename: "bench.img" },
  ]);
  const text: PartSink = { write() {}, end() {} };
  let bytes = 0;
  const file = dest ? hashingFileSink(dest, 2 * SIZE, "image file") : null;
  const sink: PartSink = file ?? { write: (c) => void (bytes += c.length), end() {} };
  await parseMultipart(req.body!, multipartBoundary(req.headers.get("content-type")), (p) =>
    p.name === "file" ? sink : text,
  );
  if ((file?.result().bytes ?? bytes) !== SIZE) throw new Error("the parser passed on the wrong number of bytes");
}

export async function benchImageUpload(): Promise<void> {
  ensureSource();
  const work = mkdtempSync(join(tmpdir(), "polyarch-bench-upload-"));
  const rows: (string | number)[][] = [];
  try {
    const baseline = process.memoryUsage().rss;
    const cp: number[] = [];
    const up: number[] = [];
    const hashed: number[] = [];
    const parsed: number[] = [];
    let peak = baseline;
    for (let i = 0; i < RUNS; i++) {
      const cpDest = join(work, `cp-${i}.img`);
      cp.push((await withRss(() => promisify(execFile)("cp", [SOURCE, cpDest]))).ms);
      rmSync(cpDest);
      const upDest = join(work, `up-${i}.img`);
      const run = await withRss(() => streamUpload(upDest));
      if (statSync(upDest).size !== SIZE) throw new Error("upload wrote the wrong number of bytes");
      rmSync(upDest);
      up.push(run.ms);
      hashed.push((await withRss(hashOnly)).ms);
      parsed.push((await withRss(() => streamUpload(null))).ms);
      peak = Math.max(peak, run.peakRss);
    }
    const best = (xs: number[]) => Math.min(...xs);
    const mibs = (ms: number) => SIZE / MiB / (ms / 1000);
    rows.push(["cp (same disk)", best(cp) / 1000, mibs(best(cp)), "1.00", "—"]);
    rows.push([
      "read + sha256 only (ceiling)",
      best(hashed) / 1000,
      mibs(best(hashed)),
      (best(cp) / best(hashed)).toFixed(2),
      "—",
    ]);
    rows.push([
      "multipart parse only (file bytes dropped)",
      best(parsed) / 1000,
      mibs(best(parsed)),
      (best(cp) / best(parsed)).toFixed(2),
      "—",
    ]);
    rows.push([
      "upload stream (multipart → disk + sha256)",
      best(up) / 1000,
      mibs(best(up)),
      (best(cp) / best(up)).toFixed(2),
      `${Math.round(peak / MiB)} MiB (baseline ${Math.round(baseline / MiB)} MiB, +${Math.round((peak - baseline) / MiB)})`,
    ]);
    printTable(
      `Image upload, 1 GiB random file, best of ${RUNS} (throughput ratio = cp time / upload time)`,
      ["path", "seconds", "MiB/s", "ratio vs cp", "peak RSS"],
      rows,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
