// Kubernetes OpenAPI schema validation for the manifests in deploy/, in two parts (ADR 053, ADR 060):
// - types, enums, formats and required fields: every object goes through the validator kubernetes-models
//   generated from the Kubernetes OpenAPI spec (ajv, compiled ahead of time);
// - unknown fields refused, as the API server's strict field validation (kubectl's default since 1.27)
//   does: every key of every object must be a field of its type in @kubernetes/client-node's models,
//   generated from the same OpenAPI spec (attributeTypeMap per type), walked recursively. Maps (labels,
//   annotations, ConfigMap data, resource quantities, …) are typed `{ [key: string]: T }` there, so their
//   keys are free and only their values are checked; `any` (a raw extension) is not looked into.
import * as k8s from "@kubernetes/client-node/dist/gen/models/all.js";
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

/** Schema errors of one Kubernetes object (empty when valid): kubernetes-models', then unknown fields. */
export function schemaErrors(obj: Record<string, unknown>): string[] {
  const { apiVersion, kind } = obj as { apiVersion?: unknown; kind?: unknown };
  if (typeof apiVersion !== "string" || typeof kind !== "string") return ["apiVersion and kind must be strings"];
  const group = GROUPS[apiVersion];
  if (!group) return [`apiVersion ${apiVersion} is not one deploy/ may use (${Object.keys(GROUPS).join(", ")})`];
  const Model = group[kind] as ModelClass | undefined;
  if (typeof Model !== "function") return [`${apiVersion} has no kind ${kind}`];
  const errors: string[] = [];
  try {
    new Model(structuredClone(obj)).validate();
  } catch (e) {
    errors.push(
      ...String((e as Error).message)
        .split(/, (?=data)/)
        .map((m) => m.trim()),
    );
  }
  return [...errors, ...unknownFields(obj, kindType(apiVersion, kind))];
}

type Attribute = { baseName: string; type: string };
const MODELS = k8s as unknown as Record<string, { attributeTypeMap?: Attribute[] } | undefined>;
/** Types that hold no fields of their own: scalars, timestamps, int-or-string, raw extensions. */
const LEAVES = new Set(["string", "number", "boolean", "Date", "IntOrString", "any", "object"]);

/** The client-node model of an apiVersion and kind: `V1Deployment`, or group-prefixed (`CoreV1Event`). */
export function kindType(apiVersion: string, kind: string): string {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["core", apiVersion];
  const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
  const prefix = cap(group!.split(".")[0]!);
  for (const name of [`${prefix}${cap(version!)}${kind}`, `${cap(version!)}${kind}`]) {
    const fields = MODELS[name]?.attributeTypeMap?.map((a) => a.baseName) ?? [];
    if (fields.includes("apiVersion") && fields.includes("kind")) return name;
  }
  throw new Error(`@kubernetes/client-node has no model for ${apiVersion} ${kind}`);
}

/** The fields of a client-node type by JSON name, or null for a leaf; throws on a type it cannot read. */
export function fieldsOf(type: string): Map<string, string> | null {
  if (LEAVES.has(type)) return null;
  const attributes = MODELS[type]?.attributeTypeMap;
  if (!attributes) throw new Error(`@kubernetes/client-node: unknown type ${type}`);
  return new Map(attributes.map((a) => [a.baseName, a.type]));
}

/** Every key of `value` (of client-node type `type`) that its type does not have, as a path. */
export function unknownFields(value: unknown, type: string, path = "data"): string[] {
  if (value === null || value === undefined) return [];
  const array = /^Array<(.+)>$/.exec(type);
  if (array) return Array.isArray(value) ? value.flatMap((v, i) => unknownFields(v, array[1]!, `${path}/${i}`)) : [];
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map)
    return isObject(value) ? Object.entries(value).flatMap(([k, v]) => unknownFields(v, map[1]!, `${path}/${k}`)) : [];
  const fields = fieldsOf(type);
  if (!fields || !isObject(value)) return []; // a wrong type is kubernetes-models' error, not this one's
  return Object.entries(value).flatMap(([k, v]) => {
    const t = fields.get(k);
    return t === undefined
      ? [`${path}/${k} is an unknown field (${type} has no field "${k}")`]
      : unknownFields(v, t, `${path}/${k}`);
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
