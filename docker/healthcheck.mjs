// HEALTHCHECK of both images: exit 0 when healthy within 4 s, else 1.
//   controller: node docker/healthcheck.mjs           GET http://127.0.0.1:$PORT/api/health → 200
//   agent:      node healthcheck.mjs --agent          TCP connect to $POLYARCH_AGENT_LISTEN: the agent
//                                                     API speaks mutual TLS (even /v1/health wants the
//                                                     controller's client certificate), so liveness is
//                                                     "the listener accepts", as in the DaemonSet's probe
import http from "node:http";
import net from "node:net";

function controller() {
  return new Promise((ok) => {
    const req = http.get(`http://127.0.0.1:${process.env.PORT || 3000}/api/health`, { timeout: 4_000 }, (res) => {
      res.resume();
      ok(res.statusCode === 200);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => ok(false));
  });
}

function agent() {
  const listen = process.env.POLYARCH_AGENT_LISTEN || "127.0.0.1:7101";
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(listen);
  if (!m) return Promise.resolve(false);
  const host = m[1] === "0.0.0.0" ? "127.0.0.1" : m[1] === "::" ? "::1" : m[1];
  return new Promise((ok) => {
    const socket = net.connect({ host, port: Number(m[2]), timeout: 4_000 }, () => {
      socket.destroy();
      ok(true);
    });
    socket.on("timeout", () => socket.destroy());
    socket.on("error", () => ok(false));
    socket.on("close", () => ok(false));
  });
}

process.exit((await (process.argv.includes("--agent") ? agent() : controller())) ? 0 : 1);
