/**
 * Pulumi mocks that record every registered resource: type, name, inputs, parent and the
 * options that matter to the kit's promises (protect, retainOnDelete, dependsOn), plus which
 * input paths were marked secret. Tests assert on these real inputs.
 */
import * as pulumi from "@pulumi/pulumi";

// Internal runtime pieces the recorder hooks into (stable across Pulumi 3.x).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const settings = require("@pulumi/pulumi/runtime/settings") as {
  getMonitor(): Record<string, unknown>;
  waitForRPCs(): Promise<void>;
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const rpc = require("@pulumi/pulumi/runtime/rpc") as {
  deserializeProperties(o: unknown): Record<string, unknown>;
  specialSigKey: string;
  specialSecretSig: string;
};

export interface RecordedResource {
  readonly type: string;
  readonly name: string;
  readonly urn: string;
  readonly custom: boolean;
  /** Inputs as the provider would receive them (secrets unwrapped). */
  readonly inputs: Record<string, any>;
  /** Dotted paths of inputs that were marked secret. */
  readonly secretPaths: readonly string[];
  readonly parent: string | undefined;
  readonly protect: boolean;
  readonly retainOnDelete: boolean;
  readonly dependsOn: readonly string[];
  readonly provider: string | undefined;
}

export interface MockOptions {
  readonly stack?: string;
  readonly project?: string;
  readonly preview?: boolean;
  /** Extra outputs per resource type, merged over the inputs (e.g. ids, endpoints). */
  readonly outputs?: (r: {
    type: string;
    name: string;
    inputs: Record<string, unknown>;
  }) => Record<string, unknown>;
  /** Results of provider function calls (`aws:index/getCallerIdentity:getCallerIdentity`). */
  readonly calls?: (token: string, args: Record<string, unknown>) => Record<string, unknown>;
}

export class ResourceRecorder {
  readonly resources: RecordedResource[] = [];

  ofType(type: string): RecordedResource[] {
    return this.resources.filter((r) => r.type === type);
  }

  one(type: string, name?: string): RecordedResource {
    const found = this.ofType(type).filter((r) => name === undefined || r.name === name);
    if (found.length !== 1) {
      throw new Error(
        `expected exactly one ${type}${name ? ` named ${name}` : ""}, found ${found.length}: ${found.map((r) => r.name).join(", ")}`,
      );
    }
    return found[0];
  }

  named(name: string): RecordedResource {
    const found = this.resources.filter((r) => r.name === name);
    if (found.length !== 1)
      throw new Error(`expected exactly one resource named ${name}, found ${found.length}`);
    return found[0];
  }

  byUrn(urn: string): RecordedResource | undefined {
    return this.resources.find((r) => r.urn === urn);
  }

  /** Children (direct) of a resource. */
  childrenOf(r: RecordedResource): RecordedResource[] {
    return this.resources.filter((x) => x.parent === r.urn);
  }
}

const GENERIC_CALLS: Record<string, Record<string, unknown>> = {
  "aws:index/getCallerIdentity:getCallerIdentity": {
    accountId: "123456789012",
    arn: "arn:aws:iam::123456789012:user/test",
    userId: "AIDTEST",
  },
  "aws:index/getPartition:getPartition": { partition: "aws", dnsSuffix: "amazonaws.com" },
  "aws:index/getRegion:getRegion": { name: "eu-central-1", region: "eu-central-1" },
  "aws:index/getAvailabilityZones:getAvailabilityZones": {
    names: ["eu-central-1a", "eu-central-1b", "eu-central-1c"],
    zoneIds: ["euc1-az2", "euc1-az3", "euc1-az1"],
    id: "eu-central-1",
  },
  "aws:secretsmanager/getSecretVersion:getSecretVersion": {
    secretString: JSON.stringify({ username: "sovereign_admin", password: "mock-master-password" }),
    arn: "arn:aws:secretsmanager:eu-central-1:123456789012:secret:mock",
    versionId: "mock-version",
  },
};

/**
 * Installs recording mocks. Call once per test file (vitest isolates files) or per test
 * with a fresh recorder; then run the code under test and `await settle()`.
 */
export function installMocks(opts: MockOptions = {}): ResourceRecorder {
  const recorder = new ResourceRecorder();
  let counter = 0;
  pulumi.runtime.setMocks(
    {
      newResource(args) {
        const extra = opts.outputs?.({ type: args.type, name: args.name, inputs: args.inputs }) ?? {};
        return {
          id: `${args.name}-id-${counter++}`,
          state: { ...args.inputs, ...defaultOutputs(args.type, args.name, args.inputs), ...extra },
        };
      },
      call(args) {
        return opts.calls?.(args.token, args.inputs) ?? GENERIC_CALLS[args.token] ?? args.inputs;
      },
    },
    opts.project ?? "sovereign",
    opts.stack ?? "test",
    opts.preview ?? false,
  );
  const monitor = settings.getMonitor();
  const original = monitor.registerResource as (
    req: RegisterRequest,
    cb: (err: unknown, resp: { getUrn(): string } | undefined) => void,
  ) => void;
  monitor.registerResource = (
    req: RegisterRequest,
    cb: (err: unknown, resp: { getUrn(): string } | undefined) => void,
  ) => {
    original.call(monitor, req, (err: unknown, resp: { getUrn(): string } | undefined) => {
      if (!err && resp) {
        const object = req.getObject()?.toJavaScript() ?? {};
        recorder.resources.push({
          type: req.getType(),
          name: req.getName(),
          urn: resp.getUrn(),
          custom: req.getCustom(),
          inputs: unwrapSecrets(rpc.deserializeProperties(req.getObject())) as Record<string, any>,
          secretPaths: findSecrets(object),
          parent: req.getParent() || undefined,
          protect: req.getProtect?.() === true,
          retainOnDelete: req.getRetainondelete?.() === true,
          dependsOn: req.getDependenciesList(),
          provider: req.getProvider() || undefined,
        });
      }
      cb(err, resp);
    });
  };
  return recorder;
}

interface RegisterRequest {
  getType(): string;
  getName(): string;
  getCustom(): boolean;
  getObject(): { toJavaScript(): Record<string, unknown> } | undefined;
  getParent(): string;
  getProtect?(): boolean;
  getRetainondelete?(): boolean;
  getDependenciesList(): string[];
  getProvider(): string;
}

/** Replaces secret envelopes (`{<sig>: <secret sig>, value}`) with their values, at any depth. */
function unwrapSecrets(o: unknown): unknown {
  if (Array.isArray(o)) return o.map(unwrapSecrets);
  if (o === null || typeof o !== "object") return o;
  const rec = o as Record<string, unknown>;
  if (rec[rpc.specialSigKey] === rpc.specialSecretSig) return unwrapSecrets(rec.value);
  return Object.fromEntries(Object.entries(rec).map(([k, v]) => [k, unwrapSecrets(v)]));
}

function findSecrets(o: unknown, prefix = ""): string[] {
  if (o === null || typeof o !== "object") return [];
  const rec = o as Record<string, unknown>;
  if (rec[rpc.specialSigKey] === rpc.specialSecretSig) return [prefix || "."];
  return Object.entries(rec).flatMap(([k, v]) => findSecrets(v, prefix ? `${prefix}.${k}` : k));
}

/** Plausible provider outputs for common types, so dependent code sees realistic values. */
function defaultOutputs(
  type: string,
  name: string,
  inputs: Record<string, unknown>,
): Record<string, unknown> {
  const arn = (svc: string, res: string) => `arn:aws:${svc}:eu-central-1:123456789012:${res}`;
  switch (type) {
    case "random:index/randomPassword:RandomPassword":
    case "random:index/randomString:RandomString":
      return { result: `generated-${name}-0123456789abcdef` };
    case "aws:kms/key:Key":
      return { arn: arn("kms", `key/${name}`), keyId: `${name}-key-id` };
    case "aws:s3/bucketV2:BucketV2":
    case "aws:s3/bucket:Bucket":
      return { arn: `arn:aws:s3:::${String(inputs.bucket ?? name)}`, bucket: inputs.bucket ?? name };
    case "aws:iam/role:Role":
      return {
        arn: `arn:aws:iam::123456789012:role/${String(inputs.name ?? name)}`,
        name: inputs.name ?? name,
      };
    case "aws:eks/cluster:Cluster":
      return {
        endpoint: `https://${name}.eks.example`,
        certificateAuthority: { data: "Y2VydA==" },
        arn: arn("eks", `cluster/${name}`),
        name: inputs.name ?? name,
        identities: [{ oidcs: [{ issuer: `https://oidc.eks.example/id/${name}` }] }],
        vpcConfig: {
          ...((inputs.vpcConfig as Record<string, unknown> | undefined) ?? {}),
          clusterSecurityGroupId: `sg-${name}-cluster`,
        },
      };
    case "aws:rds/instance:Instance":
      return {
        address: `${name}.db.example`,
        endpoint: `${name}.db.example:5432`,
        port: 5432,
        masterUserSecrets: [{ secretArn: arn("secretsmanager", `secret:${name}`) }],
      };
    default:
      return {};
  }
}

/** Waits until every pending registration has reached the mock monitor. */
export async function settle(): Promise<void> {
  await settings.waitForRPCs();
}

/** Resolves an Output's value under mocks. */
export function valueOf<T>(o: pulumi.Input<T> | pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => pulumi.output(o).apply((v) => resolve(v as T)));
}

/** Whether an Output is marked secret. */
export async function isSecret(o: pulumi.Output<unknown>): Promise<boolean> {
  return pulumi.isSecret(o);
}
