// Public surface of lib/server/volumes (data volumes, issue 13): other domains, app/ and server/ import only from here.
export * from "./attach";
export * from "./lifecycle";
export * from "./queries";
export { checkVolumeSource } from "./source";
