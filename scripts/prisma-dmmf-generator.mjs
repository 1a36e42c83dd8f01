// A minimal Prisma generator (JSON-RPC over stdin/stderr, the protocol of @prisma/generator-helper)
// that writes the full DMMF of a schema to <output>/dmmf.json. The generated client keeps only a
// reduced runtime data model (no nullability, uniques or indexes), so the drift test asks Prisma for
// the real thing this way: see prisma/prisma-dmmf.ts.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";

const reply = (id, result) => process.stderr.write(`${JSON.stringify({ jsonrpc: "2.0", id, result })}\n`);
const fail = (id, message) =>
  process.stderr.write(`${JSON.stringify({ jsonrpc: "2.0", id, error: { code: -32000, message, data: null } })}\n`);

createInterface({ input: process.stdin }).on("line", (line) => {
  let msg;
  try {
    msg = JSON.parse(line);
  } catch {
    return;
  }
  if (msg.method === "getManifest") {
    reply(msg.id, {
      manifest: {
        prettyName: "Polyarch DMMF dump",
        defaultOutput: "./dmmf",
        requiresEngines: [],
        requiresGenerators: [],
      },
    });
  } else if (msg.method === "generate") {
    try {
      const out = msg.params.generator.output?.value;
      if (!out) throw new Error("generator output is not set");
      mkdirSync(out, { recursive: true });
      writeFileSync(join(out, "dmmf.json"), JSON.stringify(msg.params.dmmf));
      reply(msg.id, null);
    } catch (err) {
      fail(msg.id, String(err?.message ?? err));
    }
  }
});
