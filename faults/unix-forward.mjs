// Runs inside a network namespace (`ip netns exec <ns> node unix-forward.mjs SOCKET HOST PORT`):
// every connection to the unix socket SOCKET (the filesystem is shared across namespaces) is
// piped to HOST:PORT as seen from inside that namespace. faults/netns.ts bridges the test to it.
import fs from "node:fs";
import net from "node:net";

const [socketPath, host, port] = process.argv.slice(2);
if (!socketPath || !host || !/^\d+$/.test(port ?? "")) {
  console.error("usage: node unix-forward.mjs SOCKET HOST PORT");
  process.exit(2);
}
fs.rmSync(socketPath, { force: true });
const server = net.createServer((client) => {
  const upstream = net.connect(Number(port), host);
  client.on("error", () => upstream.destroy());
  upstream.on("error", () => client.destroy());
  client.pipe(upstream).pipe(client);
});
server.listen(socketPath, () => console.log(`forwarding ${socketPath} -> ${host}:${port}`));
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
