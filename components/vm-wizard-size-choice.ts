// The size step's shared bits (vm-wizard-size.tsx), apart so vm-wizard.tsx can use them without loading the
// step itself with the page (first-load JS, issue 16).
import type { InstanceTypeView } from "@/lib/instance-type-size";

/** GET /api/v1/instance-types items, as much of them as the wizard reads (lib/schemas/instance-types.ts). */
export type WizardInstanceType = InstanceTypeView;
/** The size choice: an instance type's id, or "custom". */
export const CUSTOM_SIZE = "custom";
