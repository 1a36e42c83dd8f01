// Types for docker/dockerignore.mjs (plain JS, shared by tests and tooling).
export interface DockerignoreRule {
  pattern: string;
  negate: boolean;
  re: RegExp;
}
export declare function parseDockerignore(text: string): DockerignoreRule[];
export declare function isExcluded(rules: DockerignoreRule[], relPath: string): boolean;
