// Bumped by hand with the agent API; the bundle inlines it (no package.json at runtime).
export const AGENT_VERSION = "0.1.0";
