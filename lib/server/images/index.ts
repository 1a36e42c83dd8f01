// Public surface of lib/server/images: other domains, app/ and server/ import only from here.
export * from "./catalog";
export * from "./demo";
export * from "./families";
export * from "./files";
export * from "./host-caches";
export * from "./inspect";
export * from "./lifecycle";
export * from "./multipart";
export * from "./upload";
