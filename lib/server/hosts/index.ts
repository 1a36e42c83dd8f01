// Public surface of lib/server/hosts: other domains, app/ and server/ import only from here.
export * from "./agent-client";
export * from "./approval";
export * from "./credentials";
export * from "./heartbeat";
export * from "./join-tokens";
export * from "./queries";
export * from "./registration";
export * from "./token";
