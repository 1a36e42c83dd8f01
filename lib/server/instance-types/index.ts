// Public surface of lib/server/instance-types: other domains, app/ and server/ import only from here.
export * from "./instance-types";
export * from "./resolve";
