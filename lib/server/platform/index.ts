// Public surface of lib/server/platform: other domains, app/ and server/ import only from here.
export * from "./audit-log";
export * from "./audit";
export * from "./audit-bounded";
export * from "./caller";
export * from "./db";
export * from "./env";
export * from "./http";
export * from "./leases";
export * from "./list";
export * from "./log";
export * from "./pki";
export * from "./raw-driver";
