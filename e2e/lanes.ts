// The two e2e lanes (scripts/test-all.sh runs them side by side, each against its own server):
// `fleet` — the specs that start agents and boot QEMU guests, mostly waiting on one busy core;
// `ui` — the specs that need only the console and its database, which fill the other core.
// A spec not listed here runs in the fleet lane, so a new spec is never skipped.
export const UI_LANE_SPECS = [
  "a11y.spec.ts",
  "api.spec.ts",
  "authorization.spec.ts",
  "bad-input.spec.ts",
  "cross-site.spec.ts",
  "events.spec.ts",
  "floating-ips.spec.ts",
  "host-credentials.spec.ts",
  "i18n.spec.ts",
  "image-upload-target.spec.ts",
  "image-visibility.spec.ts",
  "images.spec.ts",
  "instance-types.spec.ts",
  "layout.spec.ts",
  "lists.spec.ts",
  "networks.spec.ts",
  "projects.spec.ts",
  "roles.spec.ts",
  "user-lifecycle.spec.ts",
  "z-rate-limit.spec.ts",
] as const;
