// A controller process for lib/server/platform/multi-controller.int.test.ts, without Next: the real periodic work
// (startControllerWork: liveness lease + periodic jobs under their leases) and the real create path
// (createVm), on the database in DATABASE_URL.
//
//   node --conditions=react-server --import tsx lib/server/testing/controller-process.ts '{"everyMs":500,"ttlMs":2000}'
//
// stdout, one JSON object a line: {"event":"ready","id":<instance id>} (once its liveness lease exists), then for each command on stdin
//   {"cmd":"create","count":N,"prefix":"a","imageId":…,"networkId":…,"arch":"x86_64"} → N parallel creates,
//       one {"event":"result","name","ok":true,"vmId","taskId"} | {"event":"result","name","ok":false,"code","message"} each,
//       then {"event":"done"}
//   {"cmd":"serve"} → serves the real route handlers of GET/POST /api/v1/vms, GET /api/v1/hosts and GET /api/health
//       over HTTP on 127.0.0.1 (lib/server/testing/controller-http.ts): {"event":"serving","url"}
//   {"cmd":"stop"} → stops the periodic work (releasing its leases) and exits 0.
// An unhandled promise rejection is reported as {"event":"unhandled-rejection","message"} and the process goes on, as
// under Next (which logs them): the tests count them (lib/server/platform/pg-restart.int.test.ts).
// (The controller's own JSON log lines, e.g. "lease acquired", are interleaved; they have no "event".)
import { createInterface } from "node:readline";
import { z } from "zod";
import { serveApi } from "./controller-http";
import { resetDbForTests } from "../platform";
import { activeControllerId, controllerId } from "../platform";
import { startControllerWork } from "../startup";
import { createVm } from "../vms";

const config = z
  .object({ everyMs: z.number().int().positive(), ttlMs: z.number().int().positive() })
  .parse(JSON.parse(process.argv[2] ?? "{}"));
const command = z.discriminatedUnion("cmd", [
  z.object({
    cmd: z.literal("create"),
    count: z.number().int().positive(),
    prefix: z.string(),
    imageId: z.string(),
    networkId: z.string().nullable(),
    arch: z.enum(["x86_64", "aarch64"]),
  }),
  z.object({ cmd: z.literal("serve") }),
  z.object({ cmd: z.literal("stop") }),
]);

const emit = (o: Record<string, unknown>) => process.stdout.write(JSON.stringify(o) + "\n");
process.on("unhandledRejection", (reason) =>
  emit({ event: "unhandled-rejection", message: reason instanceof Error ? reason.stack : String(reason) }),
);
const who = {
  actor: { id: "controller-test", email: "c@t.test", name: "C", role: "admin" as const, via: "session" as const },
  clientIp: null,
};

// The tests orchestrating this process run no real agents: the offline sweep must leave the DB-registered hosts alone.
const work = startControllerWork({ everyMs: config.everyMs, ttlMs: config.ttlMs, orphanSweep: false });
while (!activeControllerId()) await new Promise((r) => setTimeout(r, 20)); // its liveness lease exists
emit({ event: "ready", id: controllerId(), pid: process.pid });

async function create(c: Extract<z.output<typeof command>, { cmd: "create" }>) {
  await Promise.all(
    Array.from({ length: c.count }, async (_, i) => {
      const name = `${c.prefix}-${i}`;
      try {
        const r = await createVm(
          {
            name,
            arch: c.arch,
            imageId: c.imageId,
            vcpus: 1,
            memoryMb: 256,
            diskGb: 1,
            networkId: c.networkId,
            allowEmulation: false,
            strategy: "spread",
          },
          who,
          { provision: false },
        );
        emit({ event: "result", name, ok: true, vmId: r.vm!.id, taskId: r.task.id });
      } catch (error) {
        emit({
          event: "result",
          name,
          ok: false,
          code: (error as { code?: string }).code ?? null,
          message: error instanceof Error ? error.message : String(error),
        });
      }
    }),
  );
  emit({ event: "done" });
}

let server: Awaited<ReturnType<typeof serveApi>> | undefined;
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const c = command.parse(JSON.parse(line));
  if (c.cmd === "stop") break;
  if (c.cmd === "serve") {
    server ??= await serveApi();
    emit({ event: "serving", url: server.url });
  } else void create(c);
}
await server?.close();
await work.stop();
await resetDbForTests();
process.exit(0);
