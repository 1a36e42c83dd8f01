// The whole upload request, in process: what the `POST /api/v1/images` handler does, with a real
// Request — the API token's authentication and the image:manage permission (identity's guard), then
// uploadImage (row, quota and free-space checks, parse → disk + sha256, qemu-img inspection, the
// audit row) on a fresh SQLite database. The route module itself is not imported: it pulls in
// Next's client router, which does not load outside Next (apiRoute adds only the cross-site check
// and the JSON answer). The body streams the 1 GiB source in 64 KiB chunks, the size a socket read
// hands over; the first chunk gets an MBR signature so the raw disk is accepted (the file bytes are
// otherwise the source's). No socket: the kernel's TCP copy is left out, as `cp` does not pay it.
import { createReadStream } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { createToken, createUser, requirePermission, requireUser } from "../lib/server/identity";
import { imagesDir, uploadImage } from "../lib/server/images";
import { db } from "../lib/server/platform";
import { testBoundary } from "../lib/server/testing/multipart-body";
import { releaseDatabase, useFreshDatabase as freshDatabase } from "../lib/server/testing/server-db";

const SOCKET_CHUNK = 64 * 1024;

function uploadRequest(source: string, size: number, token: string): Request {
  const b = testBoundary();
  const field = (n: string, v: string) => `--${b}\r\nContent-Disposition: form-data; name="${n}"\r\n\r\n${v}\r\n`;
  const head = Buffer.from(
    field("name", `bench-${b.slice(-6)}`) +
      field("format", "raw") +
      field("arch", "x86_64") +
      `--${b}\r\nContent-Disposition: form-data; name="file"; filename="bench.raw"\r\n` +
      "Content-Type: application/octet-stream\r\n\r\n",
  );
  const tail = Buffer.from(`\r\n--${b}--\r\n`);
  async function* chunks() {
    yield head;
    let first = true;
    for await (const c of createReadStream(source, { highWaterMark: SOCKET_CHUNK })) {
      if (first) {
        const patched = Buffer.from(c as Buffer);
        patched.writeUInt16BE(0x55aa, 510);
        first = false;
        yield patched;
      } else yield c as Buffer;
    }
    yield tail;
  }
  const it = chunks();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await it.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
  });
  return new Request("http://localhost:3000/api/v1/images", {
    method: "POST",
    body,
    headers: {
      "content-type": `multipart/form-data; boundary=${b}`,
      "content-length": String(head.length + size + tail.length),
      authorization: `Bearer ${token}`,
      host: "localhost:3000",
    },
    duplex: "half",
  } as RequestInit & { duplex: "half" });
}

/** A fresh SQLite database and image store (under the temp dir: the same filesystem as the bench's cp) and an operator's token. */
export async function routeUploader(source: string, size: number) {
  const database = await freshDatabase("sqlite");
  const email = "bench@upload.test";
  const { id } = await createUser({ email, name: "Bench", role: "operator", password: "bench-password-1" });
  const actor = { id, email, name: "Bench", role: "operator" as const, via: "session" as const };
  const { token } = await createToken(actor, "bench", 0, null);
  return {
    /** One authenticated upload; throws unless the image is ready with the right size. */
    async upload(): Promise<void> {
      const req = uploadRequest(source, size, token);
      const who = await requireUser(req.headers);
      await requirePermission(who, "image:manage", {
        action: "image.upload",
        targetType: "image",
        clientIp: "127.0.0.1",
      });
      const image = await uploadImage(req, { actor: who, clientIp: "127.0.0.1" });
      if (image.status !== "ready" || Number(image.sizeBytes) !== size)
        throw new Error(`the upload ended ${image.status} with ${String(image.sizeBytes)} bytes`);
    },
    /** Removes the stored images (not timed), so each run starts with an empty store. */
    async clear(): Promise<void> {
      await db().image.deleteMany({});
      await rm(join(imagesDir()), { recursive: true, force: true });
    },
    async close(): Promise<void> {
      await this.clear();
      const dataDir = process.env.POLYARCH_DATA_DIR;
      await releaseDatabase(database);
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
