/**
 * deploy/kubernetes/ checked offline (no cluster here): every object against its Kubernetes schema
 * (kubernetes-models), and the references between objects that kubectl would not catch until pods
 * misbehave — selectors that select something, Service ports that exist on the pods, Secrets and
 * ConfigMaps with the keys pods read, how the registrar finds the nodes, provisioning that matches
 * Restate's config.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseToml } from "smol-toml";
import { describe, expect, it } from "vitest";
import { parseAllDocuments, parse as parseYaml } from "yaml";
import { OPTION_SPECS } from "../../reconciler/node/options.ts";

const DIR = fileURLToPath(new URL("../../deploy/kubernetes/", import.meta.url));
const REPO = fileURLToPath(new URL("../../", import.meta.url));

type Obj = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; [k: string]: any };
type Labels = Record<string, string>;
interface Selector { matchLabels?: Labels; matchExpressions?: { key: string; operator: string; values?: string[] }[] }

const files = readdirSync(DIR).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml").sort();
const objects: (Obj & { file: string })[] = files.flatMap((file) =>
  parseAllDocuments(readFileSync(path.join(DIR, file), "utf8")).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join("; ")}`);
    return { ...(doc.toJS() as Obj), file };
  }));
const kustomization = parseYaml(readFileSync(path.join(DIR, "kustomization.yaml"), "utf8")) as { namespace: string; resources: string[]; images: { name: string }[] };

/** kubectl, where the machine has one: its built-in kustomize renders the base without a cluster. */
const kubectl = (() => {
  try {
    execFileSync("kubectl", ["version", "--client"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

const all = (kind: string) => objects.filter((o) => o.kind === kind);
const one = (kind: string, name: string) => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name}`);
  return o;
};
const workloads = () => objects.filter((o) => ["Deployment", "StatefulSet", "Job"].includes(o.kind));
const podLabels = (w: Obj): Labels => w.spec.template.metadata.labels ?? {};
const containers = (w: Obj): any[] => w.spec.template.spec.containers;
const envOf = (c: any, name: string): string | undefined => c.env?.find((e: any) => e.name === name)?.value;

function selects(sel: Selector, labels: Labels): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = e.key in labels;
    if (e.operator === "In" && !(has && e.values!.includes(labels[e.key]!))) return false;
    if (e.operator === "NotIn" && has && e.values!.includes(labels[e.key]!)) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return true;
}
const selected = (sel: Selector) => workloads().filter((w) => selects(sel, podLabels(w)));

/** kubernetes-models class for an object: "apps/v1" + "Deployment" → kubernetes-models/apps/v1/Deployment. */
async function modelOf(o: Obj): Promise<new (data: unknown) => { validate(): void }> {
  const specifier = `kubernetes-models/${o.apiVersion}/${o.kind}`;
  const mod = (await import(/* @vite-ignore */ specifier)) as Record<string, new (data: unknown) => { validate(): void }>;
  const model = mod[o.kind];
  if (!model) throw new Error(`kubernetes-models has no ${o.apiVersion} ${o.kind}`);
  return model;
}

describe("deploy/kubernetes", () => {
  it("the kustomization lists every manifest, and only those", () => {
    expect([...kustomization.resources].sort()).toEqual(files);
    expect(kustomization.namespace).toBe("gridiron");
  });

  it("every object passes its Kubernetes schema", async () => {
    expect(objects.length).toBeGreaterThan(20);
    const invalid: string[] = [];
    for (const o of objects) {
      const { file, ...data } = o;
      try {
        new (await modelOf(o))(data).validate();
      } catch (err) {
        invalid.push(`${file} ${o.kind}/${o.metadata.name}: ${(err as Error).message}`);
      }
    }
    expect(invalid).toEqual([]);
  });

  it("names are unique per kind", () => {
    const keys = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(keys.length).toBe(new Set(keys).size);
  });

  it("every workload's selector matches its own pod template", () => {
    for (const w of all("Deployment").concat(all("StatefulSet"))) expect(selects(w.spec.selector, podLabels(w)), w.metadata.name).toBe(true);
  });

  it("every Service selects pods that have the ports it forwards to", () => {
    for (const svc of all("Service")) {
      const pods = selected({ matchLabels: svc.spec.selector });
      expect(pods.length, `Service ${svc.metadata.name} selects no pods`).toBeGreaterThan(0);
      for (const w of pods) {
        const ports = containers(w).flatMap((c) => c.ports ?? []);
        for (const p of svc.spec.ports) {
          const target = p.targetPort ?? p.port;
          const match = ports.find((cp: any) => (typeof target === "string" ? cp.name === target : cp.containerPort === target));
          expect(match, `Service ${svc.metadata.name} port ${p.name} → ${target} on ${w.metadata.name}`).toBeDefined();
          // Restate and Gridiron are told the numbers, not the names: keep Service and container the same.
          expect(match.containerPort, `Service ${svc.metadata.name} port ${p.name}`).toBe(p.port);
        }
      }
    }
  });

  it("the workerd Service exposes one port per cell, as the nodes are configured", () => {
    const config = one("ConfigMap", "gridiron-config").data;
    const base = Number(config.GRIDIRON_WORKERD_PORT);
    const cells = Number(config.GRIDIRON_CELLS);
    const cellPorts = Array.from({ length: cells }, (_, i) => base + i);
    expect(one("Service", "gridiron-workerd").spec.ports.map((p: any) => p.port)).toEqual(cellPorts);
    expect(new URL(config.GRIDIRON_WORKERD_URL).hostname).toBe("gridiron-workerd");
    expect(Number(new URL(config.GRIDIRON_WORKERD_URL).port)).toBe(base);
    const policy = one("NetworkPolicy", "gridiron-node").spec.ingress.find((r: any) => r.ports.some((p: any) => p.port === base));
    expect(policy.ports).toEqual([{ port: base, endPort: base + cells - 1 }]);
  });

  it("every PodDisruptionBudget and NetworkPolicy selects pods, and every policy's sources exist", () => {
    for (const pdb of all("PodDisruptionBudget")) expect(selected(pdb.spec.selector).length, `PDB ${pdb.metadata.name}`).toBeGreaterThan(0);
    for (const np of all("NetworkPolicy")) {
      const targets = selected(np.spec.podSelector);
      expect(targets.length, `NetworkPolicy ${np.metadata.name}`).toBeGreaterThan(0);
      for (const rule of np.spec.ingress) {
        for (const from of rule.from ?? []) expect(selected(from.podSelector).length, `NetworkPolicy ${np.metadata.name} source ${JSON.stringify(from)}`).toBeGreaterThan(0);
        // Each allowed port is a port of the pods the policy protects.
        for (const p of rule.ports ?? []) {
          const open = targets.every((w) => containers(w).some((c) => (c.ports ?? []).some((cp: any) => cp.containerPort === p.port)));
          expect(open, `NetworkPolicy ${np.metadata.name} port ${p.port}`).toBe(true);
        }
      }
    }
  });

  it("only the registrar (or an `all` pod) reaches Restate's admin API, and only Restate reaches workerd", () => {
    const adminRule = one("NetworkPolicy", "restate").spec.ingress.find((r: any) => r.ports.some((p: any) => p.port === 9070));
    const admitted = adminRule.from.flatMap((f: any) => selected(f.podSelector).map((w: Obj) => w.metadata.name));
    expect(admitted).toEqual(["gridiron-registrar"]);
    expect(selects(adminRule.from[0].podSelector, { "gridiron.dev/role": "all" })).toBe(true);
    expect(selects(adminRule.from[0].podSelector, { "gridiron.dev/role": "node" })).toBe(false);
    const workerdRule = one("NetworkPolicy", "gridiron-node").spec.ingress.find((r: any) => r.ports.some((p: any) => p.port === 9080));
    expect(workerdRule.from.flatMap((f: any) => selected(f.podSelector).map((w: Obj) => w.metadata.name))).toEqual(["restate"]);
  });

  it("Gridiron pods carry a known role, the same in their label and their environment", () => {
    const gridiron = all("Deployment").filter((d) => podLabels(d)["app.kubernetes.io/name"] === "gridiron");
    expect(gridiron.map((d) => podLabels(d)["gridiron.dev/role"]).sort()).toEqual(["node", "registrar"]);
    for (const d of gridiron) {
      const role = podLabels(d)["gridiron.dev/role"]!;
      expect(["node", "registrar", "all"]).toContain(role);
      expect(envOf(containers(d)[0], "GRIDIRON_ROLE")).toBe(role);
      // Only pods that serve workerd sit behind gridiron-workerd.
      expect(podLabels(d)["gridiron.dev/workerd"] === "true").toBe(role !== "registrar");
    }
  });

  it("every GRIDIRON_* setting the manifests give is one Gridiron reads", () => {
    const given = new Set<string>();
    for (const c of all("ConfigMap")) for (const k of Object.keys(c.data ?? {})) if (k.startsWith("GRIDIRON_")) given.add(k);
    for (const w of workloads()) for (const c of containers(w)) for (const e of c.env ?? []) if (String(e.name).startsWith("GRIDIRON_")) given.add(e.name);
    const known = new Set(OPTION_SPECS.map((o) => o.env));
    expect([...given].filter((k) => !known.has(k))).toEqual([]);
  });

  it("the registrar finds every Ready node through a headless Service of the node pods' API", () => {
    const config = one("ConfigMap", "gridiron-config").data;
    const nodesUrl = new URL(String(config.GRIDIRON_NODES).replace(/^dns\+/, ""));
    expect(String(config.GRIDIRON_NODES).startsWith("dns+")).toBe(true);
    const svc = one("Service", nodesUrl.hostname);
    expect(svc.spec.clusterIP).toBe("None");
    const node = one("Deployment", "gridiron-node");
    for (const [k, v] of Object.entries(svc.spec.selector as Record<string, string>)) expect(podLabels(node)[k]).toBe(v);
    expect(svc.spec.ports.map((p: any) => p.port)).toEqual([Number(nodesUrl.port)]);
    // Nodes read Restate's registry through the registrar, the only Gridiron pod allowed to its admin API.
    expect(new URL(envOf(containers(node)[0], "GRIDIRON_RESTATE_ADMIN_URL")!).hostname).toBe("gridiron-registrar");
  });

  it("the registrar holds a Lease it may get and update, and only the registrar gets a Kubernetes API token", () => {
    const registrar = one("Deployment", "gridiron-registrar");
    const c = containers(registrar)[0];
    expect(envOf(c, "GRIDIRON_REGISTRAR_LOCK")).toBe("kubernetes");
    expect(c.env.find((e: any) => e.name === "GRIDIRON_NODE_NAME")?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.name");
    const leaseName = envOf(c, "GRIDIRON_REGISTRAR_LEASE_NAME")!;
    expect(leaseName).not.toContain("/"); // in the pod's own namespace, where kustomize puts the Lease
    one("Lease", leaseName);
    const sa = registrar.spec.template.spec.serviceAccountName;
    const bindings = all("RoleBinding").filter((b) => b.subjects.some((s: any) => s.kind === "ServiceAccount" && s.name === sa));
    const rules = bindings.flatMap((b) => one(b.roleRef.kind, b.roleRef.name).rules as any[]);
    const may = (verb: string) => rules.some((r) => r.apiGroups.includes("coordination.k8s.io") && r.resources.includes("leases") && r.verbs.includes(verb) && (!r.resourceNames || r.resourceNames.includes(leaseName)));
    expect(may("get")).toBe(true);
    expect(may("update")).toBe(true);
    // Nothing else: no ClusterRoles, no other resources.
    expect(all("ClusterRoleBinding").filter((b) => b.metadata.name.startsWith("gridiron"))).toEqual([]);
    expect(rules.every((r) => r.resources.every((x: string) => x === "leases"))).toBe(true);
    for (const d of all("Deployment").filter((x) => podLabels(x)["app.kubernetes.io/name"] === "gridiron")) {
      const mounts = one("ServiceAccount", d.spec.template.spec.serviceAccountName).automountServiceAccountToken !== false;
      expect(mounts).toBe(d === registrar);
    }
  });

  it("every Secret, ConfigMap and ServiceAccount a pod uses exists with the keys it reads", () => {
    for (const w of workloads()) {
      const spec = w.spec.template.spec;
      if (spec.serviceAccountName) one("ServiceAccount", spec.serviceAccountName);
      for (const v of spec.volumes ?? []) {
        if (v.secret) one("Secret", v.secret.secretName);
        if (v.configMap) one("ConfigMap", v.configMap.name);
      }
      for (const c of spec.containers) {
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.secretKeyRef;
          if (ref) expect(Object.keys(one("Secret", ref.name).stringData ?? {}), `${w.metadata.name} ${e.name}`).toContain(ref.key);
        }
        for (const from of c.envFrom ?? []) {
          if (from.secretRef) one("Secret", from.secretRef.name);
          if (from.configMapRef) one("ConfigMap", from.configMapRef.name);
        }
        for (const m of c.volumeMounts ?? []) expect(spec.volumes.some((v: any) => v.name === m.name) || w.spec.volumeClaimTemplates?.some((t: any) => t.metadata.name === m.name), `${w.metadata.name} mount ${m.name}`).toBe(true);
      }
    }
  });

  it("Restate: a headless Service for the StatefulSet, metadata addresses of every replica, provisioning that matches the config", () => {
    const sts = one("StatefulSet", "restate");
    const headless = one("Service", sts.spec.serviceName);
    expect(headless.spec).toMatchObject({ clusterIP: "None", publishNotReadyAddresses: true });
    expect(sts.spec.podManagementPolicy).toBe("Parallel");
    const config = parseToml(one("ConfigMap", "restate-config").data["restate.toml"]) as Record<string, any>;
    const pods = Array.from({ length: sts.spec.replicas }, (_, i) => `http://restate-${i}.${headless.metadata.name}:5122/`);
    expect(config["metadata-client"].addresses).toEqual(pods);
    expect(config).toMatchObject({ "auto-provision": false, roles: ["metadata-server", "admin", "worker", "log-server", "http-ingress"], bifrost: { "default-provider": "replicated" } });
    expect(config.worker.snapshots.destination).toMatch(/^s3:\/\//);
    expect(config["default-replication"]).toBeLessThan(sts.spec.replicas);

    const job = one("Job", "restate-provision");
    const script = containers(job)[0].args.join(" ");
    expect(script).toContain(`--replication ${config["default-replication"]}`);
    expect(script).toContain(`--num-partitions ${config["default-num-partitions"]}`);
    expect(envOf(containers(job)[0], "RESTATE_ADDRESS")).toBe(pods.join(","));
    const probe = containers(sts)[0].readinessProbe.httpGet;
    expect(probe).toEqual({ path: "/restate/health", port: "ingress" });
  });

  it("Restate's image is the version Gridiron is tested with; Gridiron's is the kustomize image", () => {
    const pkg = JSON.parse(readFileSync(path.join(REPO, "package.json"), "utf8")) as { dependencies: Record<string, string> };
    const images = workloads().flatMap((w) => containers(w).map((c) => c.image as string));
    const restate = images.filter((i) => i.includes("restate"));
    expect(restate).toEqual([`docker.restate.dev/restatedev/restate:${pkg.dependencies["@restatedev/restate-server"]}`]);
    expect(pkg.dependencies["@restatedev/restatectl"]).toBe(pkg.dependencies["@restatedev/restate-server"]);
    const names = new Set(kustomization.images.map((i) => i.name));
    for (const i of images.filter((x) => !x.includes("restate"))) expect(names.has(i), i).toBe(true);
  });

  it("Gridiron pods probe the API on the port the config gives it; nodes are Ready only once they serve what is registered", () => {
    const apiPort = Number(one("ConfigMap", "gridiron-config").data.GRIDIRON_API_PORT);
    for (const d of all("Deployment")) {
      const c = containers(d)[0];
      expect(c.ports.find((p: any) => p.name === "api").containerPort).toBe(apiPort);
      const ready = d.metadata.name === "gridiron-node" ? "/readyz" : "/healthz";
      for (const [probe, path] of [["startupProbe", "/healthz"], ["readinessProbe", ready], ["livenessProbe", "/healthz"]]) expect(c[probe!].httpGet, `${d.metadata.name} ${probe}`).toEqual({ path, port: "api" });
    }
  });

  it.skipIf(!kubectl)("kubectl kustomize renders the base: every object, in the namespace, with the Gridiron image tagged", () => {
    const rendered = parseAllDocuments(execFileSync("kubectl", ["kustomize", DIR], { encoding: "utf8" })).map((d) => d.toJS() as Obj & { metadata: { namespace?: string } });
    expect(rendered.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort());
    for (const o of rendered) {
      if (o.kind !== "Namespace") expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe("gridiron");
      expect(o.metadata.labels?.["app.kubernetes.io/part-of"]).toBe("gridiron");
    }
    const images = rendered.filter((o) => o.spec?.template).flatMap((o) => containers(o).map((c) => c.image as string));
    expect(new Set(images)).toEqual(new Set(["gridiron:0.1.0", "docker.restate.dev/restatedev/restate:1.7.12"]));
  });
});
