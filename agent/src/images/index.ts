// The host's image cache: downloads from the controller, verification, LRU eviction.
export { ImageCache, ImageCacheError, type CachedImage, type EvictResult, type ImageCacheOptions } from "./image-cache";
