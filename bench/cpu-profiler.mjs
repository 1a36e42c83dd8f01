// Preloaded into the controller by bench/creates.ts (NODE_OPTIONS=--import; Node 20 refuses --cpu-prof
// there): the first SIGUSR2 starts the CPU profiler, the second writes
// <BENCH_PROFILE_DIR>/controller-<pid>.cpuprofile, so the profile covers the measured window only.
import fs from "node:fs";
import inspector from "node:inspector";
import path from "node:path";

const dir = process.env.BENCH_PROFILE_DIR;
if (dir) {
  const session = new inspector.Session();
  session.connect();
  let running = false;
  process.on("SIGUSR2", () => {
    if (!running) {
      running = true;
      session.post("Profiler.enable", () => session.post("Profiler.start"));
      return;
    }
    running = false;
    session.post("Profiler.stop", (err, res) => {
      if (!err) fs.writeFileSync(path.join(dir, `controller-${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
