// Types for docker/assemble-standalone.mjs.
/** the custom server's bundle, dist/server.mjs (scripts/build-server.mjs) */
export declare const SERVER_BUNDLE: string;
export declare const RUNTIME_ENTRIES: string[];
export declare const OPTIONAL_RUNTIME_ENTRIES: string[];
export declare const MIGRATION_DIRS: string[];
export declare class AssembleError extends Error {}
/** Why .next/standalone cannot be used (missing, or from another build than .next; no server bundle), or null. */
export declare function standaloneProblem(nextDir?: string): string | null;
export declare function splitNative(nodeModules: string): { native: Record<string, string>; removed: string[] };
export declare function assemble(opts: { out: string; nextDir?: string; nativeManifest?: string }): Promise<{
  out: string;
  dropped: string[];
  tracedAdded: number;
  native: Record<string, string>;
  removedPlatformPackages: string[];
  traceWarnings: number;
}>;
