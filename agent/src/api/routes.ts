// The agent API's URL table: which path is which route, and the methods each route allows.
// Ids are returned raw; the server validates them (parseId) so '/' or '..' in an id is a 400.
import { AGENT_API_PREFIX } from "../../../lib/schemas/agent-api";

export type Route =
  | { name: "health" }
  | { name: "host" }
  | { name: "vms" }
  | { name: "vm"; rawId: string }
  | { name: "actions"; rawId: string }
  | { name: "console"; rawId: string }
  | { name: "vnc"; rawId: string }
  | { name: "images" }
  | { name: "image"; rawId: string }
  | { name: "token" }
  | { name: "volumes" }
  | { name: "volume"; rawId: string }
  | { name: "snapshots"; rawId: string }
  | { name: "snapshot"; rawId: string; rawSid: string }
  | { name: "revert"; rawId: string; rawSid: string }
  | { name: "disk"; rawId: string }
  /** /v1/vms/:id/migration/:op (ADR 035); the op is checked by migration-routes.ts */
  | { name: "migration"; rawId: string; op: string }
  /** /v1/vms/:id/nics/:nicId/firewall: a NIC's security groups (firewall-routes.ts, ADR 052) */
  | { name: "firewall"; rawId: string; rawNic: string }
  /** /v1/routers and /v1/routers/:vlan: the VLANs' routers on this host (router-routes.ts, ADR 058) */
  | { name: "routers" }
  | { name: "router"; rawVlan: string }
  /** /v1/vms/:id/disks/:disk: a disk of a cold migration */
  | { name: "vmDisk"; rawId: string; rawDisk: string };

export const ALLOWED: Record<Route["name"], string[]> = {
  health: ["GET"],
  host: ["GET"],
  vms: ["GET"],
  vm: ["GET", "PUT", "DELETE"],
  actions: ["POST"],
  console: ["GET"],
  vnc: ["GET"],
  images: ["GET"],
  image: ["DELETE"],
  token: ["PUT"],
  volumes: ["GET"],
  volume: ["PUT", "DELETE"],
  snapshots: ["GET", "POST"],
  snapshot: ["DELETE"],
  revert: ["POST"],
  disk: ["GET"],
  migration: ["POST"],
  vmDisk: ["GET", "PUT"],
  firewall: ["PUT", "DELETE"],
  routers: ["GET"],
  router: ["PUT", "DELETE"],
};

export function route(rawUrl: string): Route | null {
  const pathOnly = rawUrl.split("?")[0] ?? "";
  const p = AGENT_API_PREFIX;
  if (pathOnly === `${p}/health`) return { name: "health" };
  if (pathOnly === `${p}/host`) return { name: "host" };
  if (pathOnly === `${p}/token`) return { name: "token" };
  if (pathOnly === `${p}/vms` || pathOnly === `${p}/vms/`) return { name: "vms" };
  if (pathOnly === `${p}/images` || pathOnly === `${p}/images/`) return { name: "images" };
  // Like VM ids below: everything after the prefix is the raw id, validated by parseId.
  if (pathOnly.startsWith(`${p}/images/`)) return { name: "image", rawId: pathOnly.slice(`${p}/images/`.length) };
  if (pathOnly === `${p}/volumes` || pathOnly === `${p}/volumes/`) return { name: "volumes" };
  if (pathOnly.startsWith(`${p}/volumes/`)) return { name: "volume", rawId: pathOnly.slice(`${p}/volumes/`.length) };
  if (pathOnly === `${p}/routers` || pathOnly === `${p}/routers/`) return { name: "routers" };
  if (pathOnly.startsWith(`${p}/routers/`)) return { name: "router", rawVlan: pathOnly.slice(`${p}/routers/`.length) };
  const prefix = `${p}/vms/`;
  if (!pathOnly.startsWith(prefix)) return null;
  const rest = pathOnly.slice(prefix.length);
  // <id>/migration/<op> and <id>/disks/<disk> first: a volume id may end like another route.
  const mig = /^([^/]*)\/migration\/([^/]*)$/.exec(rest);
  if (mig) return { name: "migration", rawId: mig[1]!, op: mig[2]! };
  const fw = /^([^/]*)\/nics\/([^/]*)\/firewall$/.exec(rest);
  if (fw) return { name: "firewall", rawId: fw[1]!, rawNic: fw[2]! };
  const disk = /^([^/]*)\/disks\/(.*)$/.exec(rest);
  if (disk) return { name: "vmDisk", rawId: disk[1]!, rawDisk: disk[2]! };
  // Anything else under /v1/vms/ is an id (possibly with '/' or '..'): parseId rejects it with 400.
  if (rest.endsWith("/actions")) return { name: "actions", rawId: rest.slice(0, -"/actions".length) };
  if (rest.endsWith("/console")) return { name: "console", rawId: rest.slice(0, -"/console".length) };
  if (rest.endsWith("/vnc")) return { name: "vnc", rawId: rest.slice(0, -"/vnc".length) };
  if (rest.endsWith("/disk")) return { name: "disk", rawId: rest.slice(0, -"/disk".length) };
  if (rest.endsWith("/snapshots")) return { name: "snapshots", rawId: rest.slice(0, -"/snapshots".length) };
  // <id>/snapshots/<sid>[/revert]: ids never contain '/', so the first segment is the VM's
  const snap = /^([^/]*)\/snapshots\/(.*?)(\/revert)?$/.exec(rest);
  if (snap) return { name: snap[3] ? "revert" : "snapshot", rawId: snap[1]!, rawSid: snap[2]! };
  return { name: "vm", rawId: rest };
}
