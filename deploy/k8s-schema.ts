// Kubernetes OpenAPI schema validation for the manifests in deploy/: every object goes through the
// validator kubernetes-models generated from the Kubernetes OpenAPI spec (ajv, compiled ahead of time):
// types, enums, formats and required fields, as the API server checks them on `kubectl apply`.
// ADR 053 records the choice. Not covered: unknown fields (the generated schemas allow them, as the
// OpenAPI spec does; only the API server's strict field validation refuses them).
import * as apps from "kubernetes-models/apps/v1";
import * as batch from "kubernetes-models/batch/v1";
import * as networking from "kubernetes-models/networking.k8s.io/v1";
import * as policy from "kubernetes-models/policy/v1";
import * as rbac from "kubernetes-models/rbac.authorization.k8s.io/v1";
import * as scheduling from "kubernetes-models/scheduling.k8s.io/v1";
import * as core from "kubernetes-models/v1";

/** API groups the deploy/ files may use; an object of any other apiVersion is an error, not a skip. */
const GROUPS: Record<string, Record<string, unknown>> = {
  v1: core,
  "apps/v1": apps,
  "batch/v1": batch,
  "networking.k8s.io/v1": networking,
  "policy/v1": policy,
  "rbac.authorization.k8s.io/v1": rbac,
  "scheduling.k8s.io/v1": scheduling,
};

type ModelClass = new (data: Record<string, unknown>) => { validate(): void };

/** Schema errors of one Kubernetes object (empty when valid). */
export function schemaErrors(obj: Record<string, unknown>): string[] {
  const { apiVersion, kind } = obj as { apiVersion?: unknown; kind?: unknown };
  if (typeof apiVersion !== "string" || typeof kind !== "string") return ["apiVersion and kind must be strings"];
  const group = GROUPS[apiVersion];
  if (!group) return [`apiVersion ${apiVersion} is not one deploy/ may use (${Object.keys(GROUPS).join(", ")})`];
  const Model = group[kind] as ModelClass | undefined;
  if (typeof Model !== "function") return [`${apiVersion} has no kind ${kind}`];
  try {
    new Model(structuredClone(obj)).validate();
    return [];
  } catch (e) {
    return String((e as Error).message)
      .split(/, (?=data)/)
      .map((m) => m.trim());
  }
}
