// `npm run bench`: runs every benchmark and prints one table each. BENCH=lists,agent,... selects some.
import { benchLists } from "./lists";
import { benchPlacement } from "./placement";
import { benchAgent } from "./agent";
import { benchImageUpload } from "./image-upload";
import { benchConsole } from "./console";
import { benchSnapshots } from "./snapshots";
import { benchMigration } from "./migration";
import { benchFuzz } from "./fuzz";
import { benchHeartbeatScale } from "./heartbeat-scale";
import { benchSoak } from "./soak";

const all: Record<string, () => Promise<void>> = {
  lists: benchLists,
  placement: benchPlacement,
  agent: benchAgent,
  imageUpload: benchImageUpload,
  console: benchConsole,
  snapshots: benchSnapshots,
  migration: benchMigration,
  fuzz: benchFuzz,
  heartbeatScale: benchHeartbeatScale,
  soak: () => benchSoak(),
};
const selected = (process.env.BENCH ?? Object.keys(all).join(",")).split(",");

for (const name of selected) {
  const fn = all[name];
  if (!fn) throw new Error(`unknown benchmark ${name}; have: ${Object.keys(all).join(", ")}`);
  await fn();
}
