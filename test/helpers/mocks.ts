/**
 * Pulumi mocks that record every registered resource: type, name, inputs, parent and the
 * options that matter to the kit's promises (protect, retainOnDelete, dependsOn), plus which
 * input paths were marked secret. Tests assert on these real inputs.
 *
 * They also record the dependency edges the engine stores in state (dependencies, property
 * dependencies, parent, provider), which decide the order of `pulumi destroy`:
 * `ResourceRecorder.dependsOnTransitively` answers "is X deleted before Y".
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
  /**
   * The same URNs as `dependencies` (kept under this name for existing tests): the SDK sends
   * explicit `dependsOn` and the resources inputs came from as one list.
   */
  readonly dependsOn: readonly string[];
  /** Provider reference (`<provider urn>::<provider id>`), custom resources only. */
  readonly provider: string | undefined;
  /**
   * Every URN this resource depends on, as the engine records it: explicit `dependsOn`, where
   * a component stands for its custom-resource descendants (the SDK expands it; the component's
   * own URN never appears), plus every resource one of its inputs came from.
   */
  readonly dependencies: readonly string[];
  /** Per input property, the URNs of the resources its value came from. */
  readonly propertyDependencies: Readonly<Record<string, readonly string[]>>;
  /** The `aliases` option as the SDK sends it (alias specs; the engine resolves them). */
  readonly aliases: readonly RecordedAlias[];
}

/**
 * One alias as sent to the engine: a whole URN, or a spec whose empty fields mean "same as the
 * resource" (`parentUrn` is the parent's URN as the mocks name it; `noParent`: at the root).
 */
export type RecordedAlias =
  | { readonly urn: string }
  | {
      readonly name: string;
      readonly type: string;
      readonly stack: string;
      readonly project: string;
      readonly parentUrn: string;
      readonly noParent: boolean;
    };

/**
 * Kinds of edges in the engine's dependency graph (`resource.State`), each of which makes the
 * engine delete the dependent first:
 * - `dependency`: `dependencies` (explicit `dependsOn` and property dependencies);
 * - `parent`: a child is deleted before its parent (and a component after its children, so a
 *   child also waits for whatever its ancestors depend on);
 * - `provider`: a resource is deleted before the provider resource that manages it.
 */
export type DependencyEdge = "dependency" | "parent" | "provider";

export interface DependencyQuery {
  /**
   * Edges to follow. @default ["dependency", "parent"]: what the kit wires. `provider` is off by
   * default because every Kubernetes object reaches the cluster through its provider, which
   * would hide a dropped `dependsOn`; add it to ask what the engine would actually do.
   */
  readonly via?: readonly DependencyEdge[];
}

const DEFAULT_EDGES: readonly DependencyEdge[] = ["dependency", "parent"];

/** The provider URN of a provider reference (`<urn>::<id>`). */
export function providerUrn(ref: string): string {
  const i = ref.lastIndexOf("::");
  return i > 0 && ref.slice(0, i).startsWith("urn:pulumi:") ? ref.slice(0, i) : ref;
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
  /** The id a resource gets (e.g. `subnet-0abc...` for AWS subnets). @default `<name>-id-<n>` */
  readonly id?: (r: { type: string; name: string }) => string | undefined;
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

  /** URNs `r` has a direct edge to, of the given kinds. */
  edgesOf(r: RecordedResource, via: readonly DependencyEdge[] = DEFAULT_EDGES): string[] {
    const out: string[] = [];
    if (via.includes("dependency")) out.push(...r.dependencies);
    if (via.includes("parent") && r.parent) out.push(r.parent);
    if (via.includes("provider") && r.provider) out.push(providerUrn(r.provider));
    return out;
  }

  /**
   * The custom resources a dependency on `r` stands for: `r` itself when custom; for a component,
   * its custom-resource descendants, walking through child components and stopping at custom
   * resources, as the SDK expands `dependsOn: [component]`.
   */
  dependencyTargets(r: RecordedResource): RecordedResource[] {
    if (r.custom) return [r];
    return this.childrenOf(r).flatMap((c) => this.dependencyTargets(c));
  }

  /**
   * Shortest chain of edges from `from` to the resource with URN `to` (URNs, `from` first, `to`
   * last), or undefined when there is none.
   */
  dependencyPath(from: RecordedResource, to: string, q: DependencyQuery = {}): string[] | undefined {
    const via = q.via ?? DEFAULT_EDGES;
    // Breadth-first from `from`'s edges; `previous` links each reached URN to where it came from.
    const previous = new Map<string, string>();
    const queue: string[] = [];
    for (const next of this.edgesOf(from, via)) {
      if (!previous.has(next)) {
        previous.set(next, from.urn);
        queue.push(next);
      }
    }
    while (queue.length > 0) {
      const urn = queue.shift()!;
      if (urn === to) {
        const path = [urn];
        for (let p = previous.get(urn)!; p !== from.urn; p = previous.get(p)!) path.unshift(p);
        return [from.urn, ...path];
      }
      const r = this.byUrn(urn);
      for (const next of r ? this.edgesOf(r, via) : []) {
        if (!previous.has(next)) {
          previous.set(next, urn);
          queue.push(next);
        }
      }
    }
    return undefined;
  }

  /**
   * Whether `from` depends on `to`, directly or through any chain of edges (`q.via`), so the
   * engine deletes `from` before `to`. A component `to` counts as depended on when the chain
   * reaches the component itself or every custom resource it stands for (`dependencyTargets`).
   */
  dependsOnTransitively(from: RecordedResource, to: RecordedResource, q: DependencyQuery = {}): boolean {
    if (this.dependencyPath(from, to.urn, q)) return true;
    if (to.custom) return false;
    const targets = this.dependencyTargets(to);
    return targets.length > 0 && targets.every((t) => this.dependencyPath(from, t.urn, q) !== undefined);
  }

  /** Every URN `from` reaches through `q.via` edges (not including itself). */
  transitiveDependencies(from: RecordedResource, q: DependencyQuery = {}): Set<string> {
    const via = q.via ?? DEFAULT_EDGES;
    const seen = new Set<string>();
    const stack = this.edgesOf(from, via);
    while (stack.length > 0) {
      const urn = stack.pop()!;
      if (seen.has(urn)) continue;
      seen.add(urn);
      const r = this.byUrn(urn);
      if (r) stack.push(...this.edgesOf(r, via));
    }
    seen.delete(from.urn);
    return seen;
  }

  /** One line per edge of a path, for assertion messages: `type name`. */
  describePath(path: readonly string[] | undefined): string {
    if (!path) return "(no path)";
    return path
      .map((u) => {
        const r = this.byUrn(u);
        return r ? `${r.type} ${r.name}` : u;
      })
      .join(" -> ");
  }
}

const GENERIC_CALLS: Record<string, Record<string, unknown>> = {
  "aws:index/getCallerIdentity:getCallerIdentity": {
    accountId: "123456789012",
    arn: "arn:aws:iam::123456789012:user/test",
    userId: "AIDTEST",
  },
  "aws:index/getPartition:getPartition": { partition: "aws", dnsSuffix: "amazonaws.com" },
  // The S3 prefix list of the region (documentation ranges stand in for S3's public ranges).
  "aws:ec2/getPrefixList:getPrefixList": {
    id: "pl-6ea54007",
    name: "com.amazonaws.eu-central-1.s3",
    cidrBlocks: ["198.51.100.0/24", "203.0.113.0/24"],
  },
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
  // setMocks is async but does all its work before its first await (it has none), so the
  // mocks are in place when it returns.
  void pulumi.runtime.setMocks(
    {
      newResource(args) {
        const extra = opts.outputs?.({ type: args.type, name: args.name, inputs: args.inputs }) ?? {};
        return {
          id: opts.id?.({ type: args.type, name: args.name }) ?? `${args.name}-id-${counter++}`,
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
          dependencies: req.getDependenciesList(),
          propertyDependencies: propertyDependencies(req),
          aliases: aliasesOf(req),
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
  getPropertydependenciesMap(): {
    forEach(f: (deps: { getUrnsList(): string[] }, key: string) => void): void;
  };
  getProvider(): string;
  getAliasesList(): AliasMessage[];
}

interface AliasMessage {
  getUrn(): string;
  getSpec():
    | {
        getName(): string;
        getType(): string;
        getStack(): string;
        getProject(): string;
        getParenturn(): string;
        getNoparent(): boolean;
      }
    | undefined;
}

function aliasesOf(req: RegisterRequest): RecordedAlias[] {
  return req.getAliasesList().map((a) => {
    const spec = a.getSpec();
    if (!spec) return { urn: a.getUrn() };
    return {
      name: spec.getName(),
      type: spec.getType(),
      stack: spec.getStack(),
      project: spec.getProject(),
      parentUrn: spec.getParenturn(),
      noParent: spec.getNoparent(),
    };
  });
}

function propertyDependencies(req: RegisterRequest): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  req.getPropertydependenciesMap().forEach((deps, key) => {
    out[key] = deps.getUrnsList();
  });
  return out;
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
          ...(inputs.vpcConfig ?? {}),
          clusterSecurityGroupId: `sg-${name}-cluster`,
        },
      };
    case "aws:rds/instance:Instance":
      return {
        address: `${name}.db.example`,
        // As RDS does: the instance listens where `port` says, 5432 by default.
        endpoint: `${name}.db.example:${Number(inputs.port ?? 5432)}`,
        port: Number(inputs.port ?? 5432),
        // As RDS does: a stable resource id, which IAM authentication ARNs name.
        resourceId: `db-${name.toUpperCase().replace(/[^A-Z0-9]/g, "")}`,
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
