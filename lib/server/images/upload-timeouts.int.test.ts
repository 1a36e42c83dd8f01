// An upload that outlasts Node's request timeout succeeds; one that stalls is aborted and leaves
// nothing behind (issue 12, finding 7; ADR 027). A real http.Server wired as server/main.ts wires
// it (createTimedServer), its timeouts set low: request 3 s, upload idle 1.5 s. The client is a
// raw socket that sends a real kernel upload steadily (a chunk every 250 ms) for about 7 s. The
// ratios are generous (idle = 6 chunk intervals, upload = 2.3 × the request timeout), so machine
// speed does not decide. The same client against a server with Node's own requestTimeout is cut.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { existsSync, readdirSync, rmSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { resolve } from "node:path";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { createTimedServer, type RequestTimeouts } from "../../../server/request-timeouts";
import { AppError } from "../../errors";
import type { TestDatabase } from "../../../prisma/test-db";
import { db, type Actor } from "../platform";
import { releaseDatabase, useFreshDatabase } from "../testing/server-db";
import { multipartStream, testBoundary } from "../testing/multipart-body";
import { imagesDir } from "./files";
import { uploadImage } from "./upload";

const KERNEL = resolve(".cache/fixtures/x86_64/vmlinuz");
const actor: Actor = { id: "u-op", email: "op@t.test", name: "Op", role: "operator", via: "session" };
const T: RequestTimeouts = { requestMs: 3000, uploadIdleMs: 1500, headersMs: 3000, checkEveryMs: 250 };
const CHUNK_EVERY_MS = 250;
const SEND_FOR_MS = 7000;

/** What Next does for a route handler: the Node request as a Web Request, aborted when the client goes. */
async function handler(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const ac = new AbortController();
  res.on("close", () => ac.abort());
  try {
    if (req.url !== "/api/v1/images") {
      for await (const chunk of req) void chunk; // any other request with a body: read it, answer 200
      res.writeHead(200).end("ok");
      return;
    }
    const request = new Request(`http://controller.test${req.url}`, {
      method: req.method,
      headers: req.headers as Record<string, string>,
      body: Readable.toWeb(req) as ReadableStream<Uint8Array>,
      signal: ac.signal,
      duplex: "half",
    } as RequestInit & { duplex: "half" });
    const image = await uploadImage(request, { actor, clientIp: "127.0.0.1" });
    res.writeHead(201, { "content-type": "application/json" }).end(JSON.stringify(image));
  } catch (e) {
    if (!res.headersSent) res.writeHead(e instanceof AppError ? e.status : 500).end(String((e as Error).message));
  }
}

async function uploadBody(): Promise<{ body: Buffer; boundary: string }> {
  const boundary = testBoundary();
  const parts = [
    { name: "name", value: "slow kernel" },
    { name: "format", value: "kernel" },
    { name: "kernel", path: KERNEL, filename: "vmlinuz" },
  ];
  const chunks: Uint8Array[] = [];
  for await (const c of multipartStream(parts, boundary) as unknown as AsyncIterable<Uint8Array>) chunks.push(c);
  return { body: Buffer.concat(chunks), boundary };
}

interface Outcome {
  status: number | null; // null: the server closed the connection without an answer
  text: string;
}

/**
 * Sends `body` over a raw socket: headers at once, then the body in steady chunks over `sendForMs`,
 * or, with `stallAfter`, that many bytes and then nothing. Resolves when the server answers or closes.
 */
function slowPost(
  port: number,
  path: string,
  body: Buffer,
  contentType: string,
  opts: { sendForMs: number; stallAfter?: number },
): Promise<Outcome> {
  return new Promise((resolveOutcome) => {
    const socket = net.connect(port, "127.0.0.1");
    const got: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(got).toString("latin1");
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      resolveOutcome({ status: m ? Number(m[1]) : null, text });
    };
    socket.on("data", (d) => {
      got.push(d);
      // One response is all we wait for; the body of ours is small and ends with the JSON.
      if (/\r\n\r\n[\s\S]*\}$|\r\n\r\n[^{][\s\S]*$/.test(Buffer.concat(got).toString("latin1"))) finish();
    });
    socket.on("error", () => {});
    socket.on("close", finish);
    socket.write(
      `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${contentType}\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    const steps = Math.ceil(opts.sendForMs / CHUNK_EVERY_MS);
    const size = Math.ceil(body.length / steps);
    let sent = 0;
    const next = () => {
      if (socket.destroyed || sent >= body.length) return;
      const end = Math.min(body.length, sent + size, opts.stallAfter ?? Infinity);
      if (end <= sent) return; // stalled: send nothing more, keep the connection open
      socket.write(body.subarray(sent, end));
      sent = end;
      timer = setTimeout(next, CHUNK_EVERY_MS);
    };
    next();
  });
}

const listenOn = (server: http.Server) =>
  new Promise<number>((ok) => server.listen(0, "127.0.0.1", () => ok((server.address() as net.AddressInfo).port)));

describe.skipIf(!existsSync(KERNEL))("uploads outlast the request timeout; stalled uploads are aborted", () => {
  let database: TestDatabase | undefined;
  let server: http.Server;
  let port = 0;
  let upload: { body: Buffer; boundary: string };
  const servers: http.Server[] = [];
  const serve = async (s: http.Server) => {
    servers.push(s);
    return listenOn(s);
  };

  beforeAll(async () => {
    upload = await uploadBody();
    server = createTimedServer(T, (req, res) => void handler(req, res));
    port = await serve(server);
  });
  afterAll(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((ok) => s.close(ok));
    }
  });
  beforeEach(async () => {
    database = await useFreshDatabase("sqlite");
  });
  afterEach(async () => {
    await releaseDatabase(database);
    rmSync(process.env.POLYARCH_DATA_DIR!, { recursive: true, force: true });
  });

  const multipart = () => `multipart/form-data; boundary=${upload.boundary}`;

  it("a steady upload lasting longer than the request timeout succeeds", async () => {
    const started = Date.now();
    const r = await slowPost(port, "/api/v1/images", upload.body, multipart(), { sendForMs: SEND_FOR_MS });
    expect(Date.now() - started).toBeGreaterThan(2 * T.requestMs);
    expect(r.status, r.text.slice(0, 300)).toBe(201);
    const row = await db().image.findFirstOrThrow();
    expect(row).toMatchObject({ status: "ready", arch: "x86_64", name: "slow kernel" });
  });

  it("the same client against Node's own requestTimeout (the old wiring) is cut off", async () => {
    const old = http.createServer(
      { requestTimeout: T.requestMs, headersTimeout: T.headersMs, connectionsCheckingInterval: 250 },
      (req, res) => void handler(req, res),
    );
    const oldPort = await serve(old);
    const r = await slowPost(oldPort, "/api/v1/images", upload.body, multipart(), { sendForMs: SEND_FOR_MS });
    expect(r.status).not.toBe(201);
    await expectNothingRemains();
  });

  it("an upload that stalls longer than the idle timeout is aborted and leaves no row or file", async () => {
    const sending = slowPost(port, "/api/v1/images", upload.body, multipart(), {
      sendForMs: SEND_FOR_MS,
      stallAfter: 2 * 1024 * 1024,
    });
    // The row and the file exist while bytes arrive...
    let seen = false;
    for (let i = 0; i < 200 && !seen; i++) {
      seen = (await db().image.count({ where: { status: "uploading" } })) === 1;
      if (!seen) await sleep(20);
    }
    expect(seen).toBe(true);
    const started = Date.now();
    const r = await sending;
    expect(r.status).toBeNull(); // the server closed the connection
    expect(Date.now() - started).toBeGreaterThanOrEqual(T.uploadIdleMs - 100);
    // ...and are gone once the server gave up on the client.
    await expectNothingRemains();
  });

  it("other requests keep a total timeout: a slow non-upload body is cut after the request timeout", async () => {
    const body = Buffer.alloc(64 * 1024, 1);
    const r = await slowPost(port, "/api/v1/other", body, "application/octet-stream", { sendForMs: SEND_FOR_MS });
    expect(r.status === 408 || r.status === null).toBe(true);
  });
});

/** Cleanup runs after the connection is gone: wait for it (bounded), then nothing of the upload remains. */
async function expectNothingRemains(): Promise<void> {
  const files = () => (existsSync(imagesDir()) ? readdirSync(imagesDir()) : []);
  for (let i = 0; i < 150; i++) {
    if ((await db().image.count()) === 0 && files().length === 0) break;
    await sleep(100);
  }
  expect(await db().image.count()).toBe(0);
  expect(files()).toEqual([]);
}
