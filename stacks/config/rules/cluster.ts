/** Rules for the in-cluster substrate. */
import * as fs from "node:fs";
import { parse as parseYaml } from "yaml";
import type { ConfigIssue } from "../errors";
import { SUBSTRATE_IMAGES } from "../../../components/lib/versions";
import {
  entries,
  isRecord,
  issue,
  profileOf,
  section,
  str,
  strings,
  substrateKind,
  type Rule,
} from "./helpers";

export const clusterOnlyKeys: Rule = (raw) => {
  if (substrateKind(raw) !== "cluster") return [];
  const out: ConfigIssue[] = [];
  if (section(raw, "network").publicLoadBalancer === true) {
    out.push(
      issue(
        "network.publicLoadBalancer",
        "expected no AWS network settings on the cluster substrate, found true",
      ),
    );
  }
  const arns = strings(section(raw, "cluster").adminRoleArns);
  if (arns.length > 0) {
    out.push(
      issue(
        "cluster.adminRoleArns",
        `expected no IAM role ARNs on the cluster substrate (grant access in the cluster's own RBAC), found "${arns[0]}"`,
      ),
    );
  }
  return out;
};

export const clusterTarget: Rule = (raw) => {
  if (substrateKind(raw) !== "cluster") return [];
  const sub = section(raw, "substrate");
  const out: ConfigIssue[] = [];
  const context = sub.context;
  if (typeof context === "string" && context.trim() !== context) {
    out.push(
      issue(
        "substrate.context",
        `expected a kubeconfig context name without spaces around it, found "${context}"`,
      ),
    );
  }
  const kubeconfig = str(sub.kubeconfig);
  if (kubeconfig !== undefined && typeof context === "string" && context !== "") {
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
  const names = contexts.map((c) => (isRecord(c) ? str(c.name) : undefined)).filter((n): n is string => !!n);
  if (names.includes(context)) return [];
  return [
    issue("substrate.context", `expected a context of ${file} [${names.join(", ")}], found "${context}"`),
  ];
}

export const clusterDatabase: Rule = (raw) => {
  if (substrateKind(raw) !== "cluster") return [];
  const db = section(raw, "database");
  const out: ConfigIssue[] = [];
  const instances = db.instances;
  if (typeof instances === "number" && instances >= 1 && profileOf(raw) === "prod" && instances < 3) {
    out.push(
      issue(
        "database.instances",
        `expected 3 Postgres instances for an on-prem prod cluster, found ${String(instances)}`,
      ),
    );
  }
  const version = str(db.version);
  if (version !== undefined && /^1[6-9](\.\d+)?$/.test(version)) {
    const major = version.split(".")[0];
    if (!SUBSTRATE_IMAGES.postgres[major]) {
      out.push(
        issue(
          "database.version",
          `expected a PostgreSQL major with a pinned CloudNativePG image (${Object.keys(SUBSTRATE_IMAGES.postgres).join(", ")}), found "${version}"`,
        ),
      );
    }
  }
  return out;
};

export const clusterStorage: Rule = (raw) => {
  if (substrateKind(raw) !== "cluster") return [];
  const storage = section(raw, "storage");
  const out: ConfigIssue[] = [];
  if (storage.objectLock === true) {
    out.push(
      issue(
        "storage.objectLock",
        "expected false on the cluster substrate (the in-cluster store does not enforce compliance retention), found true",
      ),
    );
  }
  return out;
};

export const clusterGpuPools: Rule = (raw) => {
  if (substrateKind(raw) !== "cluster") return [];
  const out: ConfigIssue[] = [];
  for (const { index, value: p } of entries(raw, "gpuPools")) {
    const sel = p.nodeSelector;
    if (!isRecord(sel) || Object.keys(sel).length === 0) {
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

export const CLUSTER_RULES: Rule[] = [
  clusterOnlyKeys,
  clusterTarget,
  clusterDatabase,
  clusterStorage,
  clusterGpuPools,
];
