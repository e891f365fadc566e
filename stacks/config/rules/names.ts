/**
 * Names and labels the API server or AWS would refuse, computed with the functions the program
 * builds them with (never re-derived here): every config value that becomes a Kubernetes label
 * value, label key or object name, the EKS cluster name and RDS identifier built from the stack
 * name, and the S3 bucket names built from `storage.bucketPrefix`. Each finding names the config
 * path whose value produced the name.
 */
import { bucketName } from "../../../components/aws/storage";
import { databaseIdentifier } from "../../../components/aws/database";
import { bucketNames, backupBucketName } from "../../../components/existing-cluster/substrate";
import { flywheelTeams, renderFlywheelCronJob } from "../../../components/flywheel/plan";
import { modelServiceName } from "../../../components/lib/endpoints";
import { cloudTags, teamLabels } from "../../../components/lib/labels";
import {
  awsTagValueProblem,
  bucketNameProblem,
  clusterNameOf,
  dnsLabelProblem,
  dnsSubdomainProblem,
  eksClusterNameProblem,
  labelValueProblem,
  qualifiedNameProblem,
  rdsIdentifierProblem,
  teamNamespace,
} from "../../../components/lib/naming";
import { teamClusterQueue } from "../../../components/platform/tenancy-plan";
import { BUCKET_ROLES } from "../../../components/lib/scopes";
import { dedupe, type ConfigIssue } from "../errors";
import { issue, type Rule } from "./helpers";

/** One finding when `problem` finds one in `built`, the name made from the value at `path`. */
function check(
  path: string,
  value: string,
  built: string,
  what: string,
  problem: (s: string) => string | undefined,
): ConfigIssue[] {
  const p = problem(built);
  if (p === undefined) return [];
  const via = built === value ? "" : ` (it makes the ${what} "${built}")`;
  return [
    issue(
      path,
      `expected a value that makes ${p.replace(/^an? /, "a valid ")}, found ${JSON.stringify(value)}${via}`,
    ),
  ];
}

/**
 * Values that become Kubernetes label values: each team's cost center (`cost-center` label on
 * every team object) and the stack's (the same chargeback dimension, so it must be usable as
 * that label too), pool GPU types (node label) and node selectors. The owner tag is an AWS tag
 * only: AWS's tag rules apply (an e-mail address is fine, an emoji is not).
 */
export const labelValues: Rule = ({ config }) => {
  const out: ConfigIssue[] = [];
  const tags = cloudTags(config.tags, "stack");
  out.push(...check("tags.owner", config.tags.owner, tags.owner, "AWS tag value", awsTagValueProblem));
  out.push(
    ...check(
      "tags.costCenter",
      config.tags.costCenter,
      tags["cost-center"],
      "label value",
      labelValueProblem,
    ),
  );
  config.teams.forEach((t, i) => {
    const labels = teamLabels(t.name, t.costCenter);
    out.push(
      ...check(
        `teams[${i}].costCenter`,
        t.costCenter,
        labels["cost-center"],
        "label value",
        labelValueProblem,
      ),
    );
  });
  config.gpuPools.forEach((p, i) => {
    if (p.gpuType !== undefined)
      out.push(
        ...check(`gpuPools[${i}].gpuType`, p.gpuType, p.gpuType, "node label value", labelValueProblem),
      );
    for (const [k, v] of Object.entries(p.nodeSelector)) {
      const keyProblem = qualifiedNameProblem(k);
      if (keyProblem)
        out.push(
          issue(
            `gpuPools[${i}].nodeSelector`,
            `expected label keys that are ${keyProblem.replace(/^a /, "")}, found ${JSON.stringify(k)}`,
          ),
        );
      out.push(...check(`gpuPools[${i}].nodeSelector.${k}`, v, v, "label value", labelValueProblem));
    }
  });
  if (config.substrate.kind === "existing-cluster") {
    const lb = config.substrate.loadBalancerAnnotations ?? {};
    for (const [exposure, annotations] of Object.entries(lb))
      for (const k of Object.keys(annotations ?? {})) {
        const p = qualifiedNameProblem(k);
        if (p)
          out.push(
            issue(
              `substrate.loadBalancerAnnotations.${exposure}`,
              `expected annotation keys that are ${p.replace(/^a /, "")}, found ${JSON.stringify(k)}`,
            ),
          );
      }
    out.push(
      ...check(
        "substrate.storageClass",
        config.substrate.storageClass,
        config.substrate.storageClass,
        "StorageClass name",
        dnsSubdomainProblem,
      ),
    );
  }
  return out;
};

/** Object names built from config values: team namespaces and queues, model Services, flywheel CronJobs and their labels. */
export const objectNames: Rule = ({ config }) => {
  const out: ConfigIssue[] = [];
  config.teams.forEach((t, i) => {
    out.push(...check(`teams[${i}].name`, t.name, teamNamespace(t.name), "namespace", dnsLabelProblem));
    out.push(
      ...check(`teams[${i}].name`, t.name, teamClusterQueue(t.name), "ClusterQueue", dnsSubdomainProblem),
    );
  });
  config.models.forEach((m, i) => {
    out.push(
      ...check(`models[${i}].name`, m.name, modelServiceName(m.name), "Service name", dnsLabelProblem),
    );
  });
  const index = new Map(config.teams.map((t, i) => [t.name, i]));
  for (const f of flywheelTeams(config)) {
    const at = `teams[${index.get(f.team)}].flywheel.adapter`;
    const cron = renderFlywheelCronJob(f);
    const meta = cron.metadata as { name: string; labels: Record<string, string> };
    out.push(...check(at, f.adapter, meta.name, "CronJob name", dnsSubdomainProblem));
    out.push(...check(at, f.adapter, meta.name, "CronJob name", dnsLabelProblem));
    for (const v of Object.values(meta.labels))
      if (v.includes(f.adapter)) out.push(...check(at, f.adapter, v, "label value", labelValueProblem));
  }
  return dedupe(out);
};

/**
 * Cloud names built from the stack name (aws): the EKS cluster name, and the RDS identifier and
 * KMS aliases it prefixes. Pulumi allows '.' and up to 100 characters in a stack name; EKS does not.
 */
export const stackNameMakesCloudNames: Rule = ({ config, stack }) => {
  if (stack === undefined || config.substrate.kind !== "aws") return [];
  const cluster = clusterNameOf(stack);
  const problems = [
    eksClusterNameProblem(cluster) &&
      `the EKS cluster name "${cluster}" is not ${eksClusterNameProblem(cluster)!.replace(/^an? /, "a valid ")}`,
    rdsIdentifierProblem(databaseIdentifier(cluster)) &&
      `the RDS identifier "${databaseIdentifier(cluster)}" is not ${rdsIdentifierProblem(databaseIdentifier(cluster))!.replace(/^an? /, "a valid ")}`,
  ].filter((p): p is string => typeof p === "string");
  return problems.length === 0
    ? []
    : [
        issue(
          "substrate",
          `expected a stack name that makes valid AWS names (letters, digits and single '-', at most 50 characters), found stack "${stack}": ${problems.join("; ")}. Rename the stack (pulumi stack rename) or create it under another name`,
        ),
      ];
};

/** Bucket names built from `storage.bucketPrefix` by the substrate that creates them. */
export const bucketNamesValid: Rule = ({ config }) => {
  const prefix = config.storage.bucketPrefix;
  const names =
    config.substrate.kind === "aws"
      ? [...BUCKET_ROLES.map((r) => bucketName(prefix, r)), bucketName(prefix, "accessLogs")]
      : [...Object.values(bucketNames(prefix)), backupBucketName(prefix)];
  for (const b of names) {
    const found = check("storage.bucketPrefix", prefix, b, "bucket name", bucketNameProblem);
    if (found.length > 0) return found;
  }
  return [];
};

export const NAME_RULES: Rule[] = [labelValues, objectNames, stackNameMakesCloudNames, bucketNamesValid];
