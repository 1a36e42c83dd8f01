// Public surface of lib/server/routers (issue 18, ADR 059): external networks, routers, floating IPs,
// and their push to the agents.
export {
  createExternalNetwork,
  deleteExternalNetwork,
  getExternalNetwork,
  listExternalNetworks,
} from "./external-networks";
export { createRouter, deleteRouter, getRouter, listRouters, updateRouter } from "./routers";
export { createFloatingIp, deleteFloatingIp, getFloatingIp, listFloatingIps, updateFloatingIp } from "./floating-ips";
export { syncRouters, syncRoutersOfVm, sweepStrayRouters, type RouterSyncResult } from "./sync";
