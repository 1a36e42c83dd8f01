// Public surface of lib/server/images: other domains, app/ and server/ import only from here.
export * from "./capture";
export * from "./catalog";
export * from "./demo";
export * from "./families";
export * from "./files";
export * from "./host-caches";
export * from "./inspect-disk";
export * from "./inspect-kernel";
// From inspect-shared only these two: the rest is the inspectors' internal helpers (file checks, error constructors).
export { reconcileArch, type ArchEvidence } from "./inspect-shared";
export * from "./lifecycle";
export * from "./multipart";
export * from "./upload";
// The periodic sweep of uploads whose controller died (the start-up one is re-exported by upload.ts).
export { sweepAbandonedUploads } from "./upload-sweep";
export * from "./visibility";
