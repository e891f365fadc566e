/** Rules for the existing-cluster substrate. */
import * as fs from "node:fs";
import { parse as parseYaml } from "yaml";
import type { ConfigIssue } from "../errors";
import { SUBSTRATE_IMAGES } from "../../../components/lib/versions";
import { issue, type Rule } from "./helpers";

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export const existingClusterOnlyKeys: Rule = ({ config }) => {
  if (config.substrate.kind !== "existing-cluster") return [];
  const out: ConfigIssue[] = [];
  if (config.network.publicLoadBalancer) {
    out.push(
      issue(
        "network.publicLoadBalancer",
        "expected no AWS network settings on the existing-cluster substrate, found true",
      ),
    );
  }
  const arns = config.eks.adminRoleArns;
  if (arns.length > 0) {
    out.push(
      issue(
        "eks.adminRoleArns",
        `expected no IAM role ARNs on the existing-cluster substrate (grant access in the cluster's own RBAC), found "${arns[0]}"`,
      ),
    );
  }
  return out;
};

export const existingClusterTarget: Rule = ({ config }) => {
  const sub = config.substrate;
  if (sub.kind !== "existing-cluster") return [];
  const out: ConfigIssue[] = [];
  const context = sub.context;
  if (context.trim() !== context) {
    out.push(
      issue(
        "substrate.context",
        `expected a kubeconfig context name without spaces around it, found "${context}"`,
      ),
    );
  }
  const kubeconfig = sub.kubeconfig;
  if (kubeconfig !== undefined) {
    out.push(...contextInKubeconfig(kubeconfig, context));
  }
  return out;
};

/**
 * When the config names a kubeconfig file, the context must be in it. (Without an explicit file
 * the standard resolution is left to the provider, so validation does not depend on the machine.)
 */
function contextInKubeconfig(file: string, context: string): ConfigIssue[] {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return [issue("substrate.kubeconfig", `expected a readable kubeconfig file, found "${file}"`)];
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch {
    return [issue("substrate.kubeconfig", `expected a kubeconfig in YAML, found unparsable "${file}"`)];
  }
  const contexts = isRecord(doc) && Array.isArray(doc.contexts) ? doc.contexts : [];
  const names = contexts
    .map((c) => (isRecord(c) && typeof c.name === "string" ? c.name : undefined))
    .filter((n): n is string => !!n);
  if (names.includes(context)) return [];
  return [
    issue("substrate.context", `expected a context of ${file} [${names.join(", ")}], found "${context}"`),
  ];
}

export const existingClusterDatabase: Rule = ({ config, settings }) => {
  if (config.substrate.kind !== "existing-cluster") return [];
  const out: ConfigIssue[] = [];
  const { instances, minInstances } = settings.database;
  if (instances < minInstances) {
    out.push(
      issue(
        "database.instances",
        `expected ${minInstances} Postgres instances for an on-prem prod cluster, found ${String(instances)}`,
      ),
    );
  }
  const version = config.database.version;
  if (!SUBSTRATE_IMAGES.postgres[version.split(".")[0]]) {
    out.push(
      issue(
        "database.version",
        `expected a PostgreSQL major with a pinned CloudNativePG image (${Object.keys(SUBSTRATE_IMAGES.postgres).join(", ")}), found "${version}"`,
      ),
    );
  }
  return out;
};

export const existingClusterStorage: Rule = ({ config }) => {
  if (config.substrate.kind !== "existing-cluster") return [];
  const out: ConfigIssue[] = [];
  if (config.storage.objectLock) {
    out.push(
      issue(
        "storage.objectLock",
        "expected false on the existing-cluster substrate (the in-cluster store does not enforce compliance retention), found true",
      ),
    );
  }
  return out;
};

export const existingClusterGpuPools: Rule = ({ config }) => {
  if (config.substrate.kind !== "existing-cluster") return [];
  const out: ConfigIssue[] = [];
  for (const [index, p] of config.gpuPools.entries()) {
    if (Object.keys(p.nodeSelector).length === 0) {
      out.push(
        issue(
          `gpuPools[${index}].nodeSelector`,
          "expected node labels that select the pool's GPU nodes on an existing cluster, found nothing",
        ),
      );
    }
  }
  return out;
};

export const EXISTING_CLUSTER_RULES: Rule[] = [
  existingClusterOnlyKeys,
  existingClusterTarget,
  existingClusterDatabase,
  existingClusterStorage,
  existingClusterGpuPools,
];
