// The Kubernetes manifests as `kubectl apply -k` takes them (no kubectl here): every YAML parsed,
// every kustomization listing exactly the files next to it, each overlay rendered by a small
// kustomize subset (resources, components, namespace, images — all these files use) and checked
// for the invariants a mixed-arch Polyarch cluster depends on.
import { describe, expect, it } from "vitest";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { parseAllDocuments } from "yaml";
import { fieldsOf, kindType, schemaErrors } from "./k8s-schema";

const ROOT = join(__dirname, "..");
const DEPLOY = __dirname;

/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects are checked field by field */
type Obj = Record<string, any>;

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return yamlFiles(p);
    return /\.ya?ml$/.test(e.name) ? [p] : [];
  });
}

function loadDocs(file: string): Obj[] {
  const docs = parseAllDocuments(readFileSync(file, "utf8"));
  for (const d of docs)
    if (d.errors.length) throw new Error(`${relative(ROOT, file)}: ${d.errors.map((e) => e.message).join("; ")}`);
  return docs.map((d) => d.toJS()).filter((d) => d != null);
}

const ALL_YAML = yamlFiles(DEPLOY);
const KUSTOMIZATIONS = ALL_YAML.filter((f) => /\/kustomization\.ya?ml$/.test(f));
const rel = (p: string) => relative(ROOT, p);

/** Local paths a kustomization refers to (resources, components, patches, generators' files). */
function references(k: Obj): string[] {
  const refs: string[] = [...(k.resources ?? []), ...(k.components ?? [])];
  for (const p of k.patches ?? []) if (p.path) refs.push(p.path);
  for (const p of k.patchesStrategicMerge ?? []) refs.push(p);
  for (const g of [...(k.configMapGenerator ?? []), ...(k.secretGenerator ?? [])]) {
    for (const f of [...(g.files ?? []), ...(g.envs ?? [])]) refs.push(String(f).replace(/^[^=]+=/, ""));
  }
  return refs.filter((r) => !/^[a-z]+:\/\//.test(r));
}

/** Renders a kustomization: resources + components, then namespace and image transformers. */
function render(dir: string): Obj[] {
  const k = loadDocs(join(dir, "kustomization.yaml"))[0]!;
  const objs: Obj[] = [];
  for (const r of [...(k.resources ?? []), ...(k.components ?? [])]) {
    const p = resolve(dir, r);
    objs.push(...(statSync(p).isDirectory() ? render(p) : loadDocs(p)));
  }
  if (k.namespace) {
    for (const o of objs) if (!CLUSTER_SCOPED.has(o.kind)) (o.metadata ??= {}).namespace = k.namespace;
  }
  for (const img of k.images ?? []) {
    for (const c of containersOf(objs)) {
      const [name] = splitImage(c.image);
      if (name === img.name)
        c.image = `${img.newName ?? name}${img.digest ? `@${img.digest}` : `:${img.newTag ?? splitImage(c.image)[1]}`}`;
    }
  }
  return objs;
}

const CLUSTER_SCOPED = new Set(["Namespace", "PriorityClass", "ClusterRole", "ClusterRoleBinding", "StorageClass"]);

function splitImage(image: string): [string, string | null] {
  const at = image.indexOf("@");
  if (at >= 0) return [image.slice(0, at), image.slice(at)];
  const m = /^(.*?)(?::([^:/]+))?$/.exec(image)!;
  return [m[1]!, m[2] ?? null];
}

function podSpec(o: Obj): Obj | null {
  return o.spec?.template?.spec ?? o.spec?.jobTemplate?.spec?.template?.spec ?? null;
}

function containersOf(objs: Obj[]): Obj[] {
  return objs.flatMap((o) => {
    const s = podSpec(o);
    return s ? [...(s.initContainers ?? []), ...(s.containers ?? [])] : [];
  });
}

/** Names that hold secrets (POLYARCH_JOIN_TOKEN, DATABASE_URL, …; not POLYARCH_JOIN_TOKEN_TTL_HOURS). */
const SECRETISH = /(SECRET|PASSWORD|PASSWD|TOKEN|DATABASE_URL|DSN|CREDENTIALS?|_KEY)$/i;

const OVERLAYS = readdirSync(join(DEPLOY, "overlays")).map((d) => join(DEPLOY, "overlays", d));
const rendered = Object.fromEntries(OVERLAYS.map((d) => [rel(d), render(d)]));
const find = (objs: Obj[], kind: string, name: string) =>
  objs.find((o) => o.kind === kind && o.metadata?.name === name);

describe("deploy/ files", () => {
  it("every YAML file parses", () => {
    expect(ALL_YAML.length).toBeGreaterThan(10);
    for (const f of ALL_YAML) expect(() => loadDocs(f), rel(f)).not.toThrow();
  });

  it("each kustomization lists every YAML file next to it, and everything it lists exists", () => {
    for (const kf of KUSTOMIZATIONS) {
      const dir = dirname(kf);
      const k = loadDocs(kf)[0]!;
      const refs = references(k);
      for (const r of refs) expect(existsSync(resolve(dir, r)), `${rel(kf)} refers to ${r}`).toBe(true);
      for (const r of refs.filter((x) => statSync(resolve(dir, x)).isDirectory())) {
        expect(existsSync(join(resolve(dir, r), "kustomization.yaml")), `${rel(kf)}: ${r} is a kustomization`).toBe(
          true,
        );
      }
      const siblings = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f) && !/^kustomization\.ya?ml$/.test(f));
      const listed = new Set(refs.map((r) => resolve(dir, r)));
      for (const s of siblings)
        expect(listed.has(join(dir, s)), `${rel(join(dir, s))} is listed in ${rel(kf)}`).toBe(true);
    }
  });

  it("no YAML file is outside a kustomization, and every base/component is used by an overlay", () => {
    const dirs = new Set(KUSTOMIZATIONS.map(dirname));
    for (const f of ALL_YAML) expect(dirs.has(dirname(f)), `${rel(f)} sits next to a kustomization.yaml`).toBe(true);
    const used = new Set<string>();
    for (const kf of KUSTOMIZATIONS) for (const r of references(loadDocs(kf)[0]!)) used.add(resolve(dirname(kf), r));
    for (const d of dirs)
      if (!d.includes(`${join(DEPLOY, "overlays")}/`))
        expect(used.has(d), `${rel(d)} is used by an overlay`).toBe(true);
    expect(OVERLAYS.map((o) => o.split("/").pop()).sort()).toEqual(["bundled-postgres", "external-postgres"]);
  });

  it("image references in the files and kustomize image overrides carry no digest and no arch", () => {
    for (const f of ALL_YAML) {
      for (const d of loadDocs(f)) {
        for (const c of containersOf([d]))
          expect(c.image, rel(f)).not.toMatch(/@|[-_.](amd64|arm64|x86_64|aarch64)\b/i);
        for (const img of d.images ?? []) {
          expect(img.digest, `${rel(f)} images[${img.name}]`).toBeUndefined();
          expect(String(img.newTag ?? ""), `${rel(f)} images[${img.name}]`).not.toMatch(/amd64|arm64|x86_64|aarch64/i);
        }
      }
    }
  });

  it("no secret values anywhere: no Secret objects, no literal secret generators, no secret-looking ConfigMap keys", () => {
    for (const f of ALL_YAML) {
      for (const d of loadDocs(f)) {
        expect(d.kind, rel(f)).not.toBe("Secret");
        for (const g of d.secretGenerator ?? [])
          expect(g.literals, `${rel(f)} secretGenerator ${g.name} uses literals`).toBeUndefined();
        if (d.kind === "ConfigMap")
          for (const key of Object.keys(d.data ?? {})) expect(key, `${rel(f)} ConfigMap key`).not.toMatch(SECRETISH);
      }
    }
  });
});

describe("Kubernetes OpenAPI schemas (kubernetes-models; unknown fields by @kubernetes/client-node's models)", () => {
  const resources = ALL_YAML.filter((f) => !KUSTOMIZATIONS.includes(f)).flatMap((f) =>
    loadDocs(f).map((o) => ({ where: `${rel(f)} ${o.kind}/${o.metadata?.name}`, o })),
  );

  it("every object in deploy/ and every rendered overlay validates, unknown fields refused", () => {
    expect(resources.length).toBeGreaterThan(10);
    const all = [...resources, ...Object.entries(rendered).flatMap(([k, objs]) => objs.map((o) => ({ where: k, o })))];
    for (const { where, o } of all) expect(schemaErrors(o), `${where} ${o.kind}/${o.metadata?.name}`).toEqual([]);
  });

  it("refuses a wrong type, a wrong enum value, a missing required field and an unknown kind", () => {
    const deployment = resources.find((r) => r.o.kind === "Deployment")!.o;
    const broken = (edit: (o: Obj) => void) => {
      const o = structuredClone(deployment);
      edit(o);
      return schemaErrors(o).join("\n");
    };
    expect(broken((o) => (o.spec.replicas = "2"))).toMatch(/spec\/replicas must be integer/);
    expect(broken((o) => (o.spec.template.spec.containers[0].imagePullPolicy = "Sometimes"))).toMatch(
      /imagePullPolicy must be equal to one of the allowed values/,
    );
    expect(broken((o) => delete o.spec.template.spec.containers[0].name)).toMatch(
      /must have required property '?name'?/,
    );
    expect(broken((o) => (o.spec.template.spec.containers[0].ports = [{ containerPort: "http" }]))).toMatch(
      /containerPort must be integer/,
    );
    expect(broken((o) => (o.kind = "Deploymant"))).toMatch(/no kind Deploymant/);
    expect(broken((o) => (o.apiVersion = "extensions/v1beta1"))).toMatch(/not one deploy\/ may use/);
  });

  it("refuses unknown fields — misspelled, at the wrong level, in any kind — naming the path", () => {
    const deployment = resources.find((r) => r.o.kind === "Deployment")!.o;
    const broken = (edit: (o: Obj) => void, base: Obj = deployment) => {
      const o = structuredClone(base);
      edit(o);
      return schemaErrors(o);
    };
    // each of these passes kubernetes-models' validators: only the strict check refuses it
    expect(broken((o) => (o.spec.template.spec.containers[0].imagePullPolicyy = "IfNotPresent"))).toEqual([
      'data/spec/template/spec/containers/0/imagePullPolicyy is an unknown field (V1Container has no field "imagePullPolicyy")',
    ]);
    expect(broken((o) => (o.spec.template.spec.replicas = 2))).toEqual([
      'data/spec/template/spec/replicas is an unknown field (V1PodSpec has no field "replicas")',
    ]);
    expect(broken((o) => (o.spec.replica = 2))).toEqual([
      'data/spec/replica is an unknown field (V1DeploymentSpec has no field "replica")',
    ]);
    expect(
      broken((o) => (o.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem = true)).join("\n"),
    ).toMatch(/containers\/0\/securityContext\/readOnlyRootFileSystem is an unknown field \(V1SecurityContext/);
    expect(broken((o) => (o.metadata.label = { app: "x" })).join("\n")).toMatch(
      /data\/metadata\/label is an unknown field/,
    );
    // every object of every kind in deploy/: a stray top-level key, and one inside its spec (or data)
    for (const { where, o } of resources) {
      expect(
        broken((x) => (x.specc = {}), o),
        where,
      ).toEqual([`data/specc is an unknown field (${kindType(o.apiVersion, o.kind)} has no field "specc")`]);
      const inner = o.spec ? "spec" : "metadata";
      expect(broken((x) => (x[inner].bogus = 1), o).join("\n"), where).toMatch(
        new RegExp(`^data/${inner}/bogus is an unknown field`),
      );
    }
  });

  it("maps are not unknown fields: labels, annotations, ConfigMap data, resource quantities, selectors", () => {
    const deployment = resources.find((r) => r.o.kind === "Deployment")!.o;
    const configMap = resources.find((r) => r.o.kind === "ConfigMap")!.o;
    const o = structuredClone(deployment);
    o.metadata.labels = { ...o.metadata.labels, "example.com/any-label": "x" };
    o.metadata.annotations = { "example.com/any-annotation": "x" };
    o.spec.selector.matchLabels["example.com/k"] = "v";
    o.spec.template.metadata.labels["example.com/k"] = "v";
    o.spec.template.spec.nodeSelector = { "example.com/pool": "a" };
    o.spec.template.spec.containers[0].resources.limits = { "example.com/gpu": "1", memory: "1Gi" };
    expect(schemaErrors(o)).toEqual([]);
    const cm = structuredClone(configMap);
    cm.data.ANY_NEW_KEY = "x";
    expect(schemaErrors(cm)).toEqual([]);
  });

  it("client-node's models describe every type reachable from the kinds in deploy/ (so none is skipped)", () => {
    const seen = new Set<string>();
    const walk = (type: string): void => {
      const inner = /^Array<(.+)>$/.exec(type)?.[1] ?? /^\{ \[key: string\]: (.+); \}$/.exec(type)?.[1];
      if (inner) return walk(inner);
      if (seen.has(type)) return;
      seen.add(type);
      for (const t of fieldsOf(type)?.values() ?? []) walk(t); // throws on a type it cannot read
    };
    const kinds = new Set(resources.map(({ o }) => kindType(o.apiVersion, o.kind)));
    expect([...kinds].sort()).toEqual([
      "V1ConfigMap",
      "V1DaemonSet",
      "V1Deployment",
      "V1Ingress",
      "V1Namespace",
      "V1PersistentVolumeClaim",
      "V1PodDisruptionBudget",
      "V1PriorityClass",
      "V1Service",
      "V1ServiceAccount",
      "V1StatefulSet",
    ]);
    for (const k of kinds) walk(k);
    expect(seen.has("V1Container") && seen.has("V1ObjectMeta") && seen.has("V1PodSpec")).toBe(true);
    expect(fieldsOf("V1ObjectMeta")?.get("labels")).toBe("{ [key: string]: string; }");
    expect(fieldsOf("V1ResourceRequirements")?.get("limits")).toBe("{ [key: string]: string; }");
  });
});

describe.each(Object.keys(rendered))("%s, rendered", (overlay) => {
  const objs = rendered[overlay]!;
  const controller = find(objs, "Deployment", "polyarch-controller")!;
  const agent = find(objs, "DaemonSet", "polyarch-agent")!;
  const configMap = find(objs, "ConfigMap", "polyarch-config")!;

  it("has the controller, agent, config, service, PDB, ingress and data PVC in namespace polyarch", () => {
    for (const [kind, name] of [
      ["Deployment", "polyarch-controller"],
      ["DaemonSet", "polyarch-agent"],
      ["ConfigMap", "polyarch-config"],
      ["Service", "polyarch-controller"],
      ["PodDisruptionBudget", "polyarch-controller"],
      ["Ingress", "polyarch-controller"],
      ["PersistentVolumeClaim", "polyarch-data"],
    ]) {
      const o = find(objs, kind!, name!);
      expect(o, `${kind}/${name}`).toBeDefined();
      expect(o!.metadata.namespace, `${kind}/${name}`).toBe("polyarch");
    }
    for (const o of objs)
      if (!CLUSTER_SCOPED.has(o.kind)) expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe("polyarch");
    const names = objs.map((o) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`);
    expect(new Set(names).size).toBe(names.length);
  });

  it("images: one multi-arch tag per image, the same tag for controller and agent, no digests or arch suffixes", () => {
    const images = containersOf(objs).map((c) => c.image as string);
    for (const image of images) {
      expect(image, image).not.toContain("@");
      const [name, tag] = splitImage(image);
      expect(tag, `${image} has a tag`).toBeTruthy();
      expect(tag, image).not.toBe("latest");
      expect(`${name}:${tag}`, image).not.toMatch(/[-_.](amd64|arm64|x86_64|aarch64|x64|armv8|arm)(\b|$)/i);
    }
    const ours = images.filter((i) => /polyarch-(controller|agent)/.test(i));
    expect(ours.length).toBe(2);
    expect(new Set(ours.map((i) => splitImage(i)[1])).size).toBe(1);
    expect(new Set(ours.map((i) => splitImage(i)[0].replace(/polyarch-(controller|agent)$/, ""))).size).toBe(1);
  });

  it("every container requests CPU and memory", () => {
    for (const c of containersOf(objs)) {
      expect(c.resources?.requests?.cpu, c.name).toBeTruthy();
      expect(c.resources?.requests?.memory, c.name).toBeTruthy();
    }
  });

  it("secrets only through secretKeyRef, never as env values", () => {
    for (const o of objs) {
      const spec = podSpec(o);
      if (!spec) continue;
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        for (const e of c.env ?? []) {
          if (!SECRETISH.test(e.name)) continue;
          expect(e.value, `${o.metadata.name}/${c.name} ${e.name} has an inline value`).toBeUndefined();
          expect(
            e.valueFrom?.secretKeyRef?.name,
            `${o.metadata.name}/${c.name} ${e.name} comes from a Secret`,
          ).toBeTruthy();
        }
        for (const src of c.envFrom ?? []) {
          if (src.configMapRef)
            expect(find(objs, "ConfigMap", src.configMapRef.name), src.configMapRef.name).toBeDefined();
        }
      }
    }
  });

  it("controller: ≥ 2 replicas, a PDB keeping one, probes on /api/health, non-root, no arch pinning", () => {
    expect(controller.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(controller.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    const labels = controller.spec.template.metadata.labels;
    const pdb = find(objs, "PodDisruptionBudget", "polyarch-controller")!;
    expect(pdb.spec.minAvailable).toBeGreaterThanOrEqual(1);
    for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels)) expect(labels[k]).toBe(v);
    const spec = controller.spec.template.spec;
    const c = spec.containers[0];
    const portNames = new Set(c.ports.map((p: Obj) => p.name));
    for (const probe of ["readinessProbe", "livenessProbe", "startupProbe"]) {
      expect(c[probe]?.httpGet?.path, probe).toBe("/api/health");
      expect(portNames.has(c[probe].httpGet.port), probe).toBe(true);
    }
    expect(spec.securityContext.runAsNonRoot).toBe(true);
    expect(spec.securityContext.runAsUser).toBeGreaterThan(0);
    expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
    expect(c.securityContext.privileged ?? false).toBe(false);
    expect(JSON.stringify(spec.nodeSelector ?? {}) + JSON.stringify(spec.affinity ?? {})).not.toMatch(/arch/);
    const data = c.volumeMounts.find((m: Obj) => m.mountPath === configMap.data.POLYARCH_DATA_DIR);
    const claim = spec.volumes.find((v: Obj) => v.name === data?.name)?.persistentVolumeClaim?.claimName;
    expect(find(objs, "PersistentVolumeClaim", claim)?.spec.accessModes).toContain("ReadWriteMany");
    for (const key of ["DATABASE_URL", "BETTER_AUTH_SECRET", "POLYARCH_JOIN_TOKEN"]) {
      expect(c.env.find((e: Obj) => e.name === key)?.valueFrom?.secretKeyRef?.optional ?? false, key).toBe(false);
    }
  });

  it("service and ingress reach the controller; the ingress keeps WebSockets and uploads open", () => {
    const labels = controller.spec.template.metadata.labels;
    const svc = find(objs, "Service", "polyarch-controller")!;
    for (const [k, v] of Object.entries(svc.spec.selector)) expect(labels[k]).toBe(v);
    const targetPorts = new Set(controller.spec.template.spec.containers[0].ports.map((p: Obj) => p.name));
    for (const p of svc.spec.ports) expect(targetPorts.has(p.targetPort)).toBe(true);
    const ing = find(objs, "Ingress", "polyarch-controller")!;
    const backend = ing.spec.rules[0].http.paths[0].backend.service;
    expect(backend.name).toBe(svc.metadata.name);
    expect(svc.spec.ports.map((p: Obj) => p.name)).toContain(backend.port.name);
    const a = ing.metadata.annotations;
    expect(Number(a["nginx.ingress.kubernetes.io/proxy-read-timeout"])).toBeGreaterThanOrEqual(3600);
    expect(Number(a["nginx.ingress.kubernetes.io/proxy-send-timeout"])).toBeGreaterThanOrEqual(3600);
    expect(a["nginx.ingress.kubernetes.io/proxy-body-size"]).toBe("0");
    expect(a["nginx.ingress.kubernetes.io/proxy-request-buffering"]).toBe("off");
  });

  it("agent: every Linux node of both arches, host network, privileged, KVM/OVS/state mounts", () => {
    const spec = agent.spec.template.spec;
    expect(spec.hostNetwork).toBe(true);
    expect(spec.dnsPolicy).toBe("ClusterFirstWithHostNet");
    const c = spec.containers[0];
    expect(c.securityContext.privileged).toBe(true);
    // no architecture pinning: not in nodeSelector, affinity, or any selector term
    expect(Object.keys(spec.nodeSelector ?? {})).toEqual(["kubernetes.io/os"]);
    expect(spec.nodeSelector["kubernetes.io/os"]).toBe("linux");
    expect(JSON.stringify(spec.affinity ?? {})).not.toMatch(/arch/i);
    expect(spec.nodeName).toBeUndefined();
    const tol = spec.tolerations as Obj[];
    for (const key of ["node-role.kubernetes.io/control-plane", "kubernetes.io/arch"]) {
      expect(
        tol.some((t) => t.key === key && t.operator === "Exists" && (t.effect ?? "NoSchedule") === "NoSchedule"),
        key,
      ).toBe(true);
    }
    const volumes = new Map<string, Obj>(spec.volumes.map((v: Obj) => [v.name, v]));
    for (const [path, type] of [
      ["/dev/kvm", "CharDevice"],
      ["/var/run/openvswitch", "Directory"],
      ["/var/lib/polyarch-agent", "DirectoryOrCreate"],
    ]) {
      const m = c.volumeMounts.find((x: Obj) => x.mountPath === path);
      expect(m, `${path} mounted`).toBeDefined();
      expect(volumes.get(m.name)?.hostPath, `${path} is a hostPath`).toMatchObject({ path, type });
    }
    expect(agent.spec.updateStrategy.type).toBe("OnDelete");
  });

  it("agent env: known flags, $(VAR) references defined earlier, ConfigMap keys present", () => {
    const agentConfig = readFileSync(join(ROOT, "agent/src/config.ts"), "utf8");
    const env = agent.spec.template.spec.containers[0].env as Obj[];
    const seen = new Set<string>();
    for (const e of env) {
      if (e.name.startsWith("POLYARCH_")) expect(agentConfig, `agent reads ${e.name}`).toContain(`"${e.name}"`);
      for (const m of String(e.value ?? "").matchAll(/\$\((\w+)\)/g))
        expect(seen.has(m[1]!), `${e.name} uses $(${m[1]}) defined before it`).toBe(true);
      const ref = e.valueFrom?.configMapKeyRef;
      if (ref && !ref.optional)
        expect(find(objs, "ConfigMap", ref.name)?.data?.[ref.key], `${ref.name}/${ref.key}`).toBeDefined();
      seen.add(e.name);
    }
    // The agent serves TLS unless started with --insecure-http (development only): advertise https.
    const container = agent.spec.template.spec.containers[0];
    expect([...(container.args ?? []), ...(container.command ?? [])]).not.toContain("--insecure-http");
    expect(env.find((e) => e.name === "POLYARCH_AGENT_URL")?.value).toMatch(/^https:\/\/\$\(NODE_IP\):7101$/);
    expect(env.find((e) => e.name === "POLYARCH_AGENT_LISTEN")?.value).toBe("$(NODE_IP):7101");
    const state = env.find((e) => e.name === "POLYARCH_STATE_DIR")?.value;
    expect(state).toBe("/var/lib/polyarch-agent");
    for (const name of [
      "POLYARCH_CONTROLLER_URL",
      "POLYARCH_JOIN_TOKEN",
      "POLYARCH_AGENT_LISTEN",
      "POLYARCH_AGENT_URL",
    ])
      expect(seen.has(name), name).toBe(true);
  });

  it("agents reach the controller's agent TLS port through the Service, under a name its certificate carries", () => {
    const url = new URL(configMap.data.POLYARCH_CONTROLLER_URL);
    expect(url.protocol).toBe("https:");
    const tlsPort = Number(configMap.data.POLYARCH_AGENT_TLS_PORT);
    expect(tlsPort).toBeGreaterThan(0);
    const c = controller.spec.template.spec.containers[0];
    const containerPort = c.ports.find((p: Obj) => p.containerPort === tlsPort);
    expect(containerPort?.name).toBeTruthy();
    const svc = find(objs, "Service", "polyarch-controller")!;
    const svcPort = svc.spec.ports.find((p: Obj) => p.targetPort === containerPort.name);
    expect(svcPort?.port).toBe(Number(url.port || 443));
    expect(url.hostname.split(".")[0]).toBe(svc.metadata.name);
    expect(url.hostname.split(".")[1]).toBe(svc.metadata.namespace);
    expect(configMap.data.POLYARCH_AGENT_TLS_NAMES.split(",").map((n: string) => n.trim())).toContain(url.hostname);
  });

  it("controller env and ConfigMap keys are settings the code reads", () => {
    const sources = ["lib/server/platform/env.ts", "agent/src/config.ts", "docker/controller-start.mjs"]
      .map((f) => readFileSync(join(ROOT, f), "utf8"))
      .join("\n");
    const names = [
      ...Object.keys(configMap.data),
      ...controller.spec.template.spec.containers[0].env.map((e: Obj) => e.name),
    ];
    for (const n of names) expect(sources, n).toMatch(new RegExp(`\\b${n}\\b`));
  });

  it("database: bundled StatefulSet with a volume claim, or none when external", () => {
    const pg = find(objs, "StatefulSet", "postgres");
    if (overlay.endsWith("bundled-postgres")) {
      expect(pg).toBeDefined();
      expect(pg!.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBeTruthy();
      const mounts = pg!.spec.template.spec.containers[0].volumeMounts.map((m: Obj) => m.name);
      expect(mounts).toContain(pg!.spec.volumeClaimTemplates[0].metadata.name);
      expect(find(objs, "Service", pg!.spec.serviceName)).toBeDefined();
    } else {
      expect(pg).toBeUndefined();
    }
  });
});
