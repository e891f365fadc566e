/**
 * What every workload identity of a recorded stack may do in object storage, read back from
 * the recorded inputs the cloud or the store enforces: on AWS the IAM policies of the roles
 * bound through EKS Pod Identity, in-cluster the SeaweedFS identity config.
 */
import { S3_CONFIG_KEY } from "../../components/existing-cluster/object-store";
import type { ResourceRecorder } from "./mocks";

/** Identity → sorted grants `read|write bucket/prefix*` (`bucket/*` for a whole bucket). */
export type AccessTable = Record<string, string[]>;

const READ = new Set(["s3:GetObject", "Read"]);
const WRITE = new Set(["s3:PutObject", "Write"]);

function grantsOf(actions: readonly string[], target: string): string[] {
  const out: string[] = [];
  if (actions.some((a) => READ.has(a))) out.push(`read ${target}`);
  if (actions.some((a) => WRITE.has(a))) out.push(`write ${target}`);
  return out;
}

/** AWS: `namespace/serviceAccount` of each Pod Identity association → its S3 object grants. */
export function awsAccessTable(recorder: ResourceRecorder): AccessTable {
  const table: AccessTable = {};
  for (const assoc of recorder.ofType("aws:eks/podIdentityAssociation:PodIdentityAssociation")) {
    // Every inline policy of the role the association binds (followed through the recorded inputs).
    const roles = assoc.propertyDependencies.roleArn ?? [];
    const policies = recorder
      .ofType("aws:iam/rolePolicy:RolePolicy")
      .filter((p) => (p.propertyDependencies.role ?? []).some((r) => roles.includes(r)));
    const grants: string[] = [];
    for (const p of policies) {
      const doc = JSON.parse(p.inputs.policy as string) as { Statement: any[] };
      for (const s of doc.Statement) {
        if (s.Effect !== "Allow") continue;
        for (const r of [s.Resource].flat() as string[]) {
          const m = /^arn:aws:s3:::(.+\/.*)$/.exec(r);
          if (m) grants.push(...grantsOf([s.Action].flat(), m[1]));
          // RDS IAM authentication: log in as one database user of one instance.
          const db = /^arn:aws:rds-db:[^:]+:\d+:dbuser:[^/]+\/(.+)$/.exec(r);
          if (db && [s.Action].flat().includes("rds-db:connect")) grants.push(`connect postgres as ${db[1]}`);
        }
      }
    }
    table[`${assoc.inputs.namespace}/${assoc.inputs.serviceAccount}`] = [...new Set(grants)].sort();
  }
  return table;
}

/** In-cluster: each SeaweedFS identity (named after its binding) → its object grants. */
export function clusterAccessTable(recorder: ResourceRecorder): AccessTable {
  const secret = recorder
    .ofType("kubernetes:core/v1:Secret")
    .find((r) => r.inputs.stringData?.[S3_CONFIG_KEY] !== undefined);
  if (!secret) throw new Error("expected the SeaweedFS identity config Secret, found none");
  const config = JSON.parse(secret.inputs.stringData[S3_CONFIG_KEY]) as {
    identities: { name: string; actions: string[] }[];
  };
  const table: AccessTable = {};
  for (const i of config.identities) {
    const grants: string[] = [];
    for (const a of i.actions) {
      const [verb, target] = a.split(":");
      grants.push(...grantsOf([verb], target.includes("/") ? target : `${target}/*`));
    }
    table[i.name] = [...new Set(grants)].sort();
  }
  return table;
}
