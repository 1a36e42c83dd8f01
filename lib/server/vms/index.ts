// Public surface of lib/server/vms: other domains, app/ and server/ import only from here.
export * from "./access";
export * from "./create";
export * from "./operate";
export * from "./placement";
export * from "./provision";
export * from "./queries";
export * from "./spec";
export * from "./firewall-spec";
export * from "./status";
export * from "./heartbeat-ingest";
export * from "./tasks";
export * from "./media";
export * from "./resize";
export * from "./moving";
export * from "./rename";
