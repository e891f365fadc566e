/**
 * The component package's facades: the kit's platform as one Pulumi component per substrate,
 * with arguments Pulumi's component analyzer accepts (config-types.ts, generated from the stack
 * config schema), so a Python, Go, .NET, Java or YAML program can use it (`pulumi package add`).
 *
 * Each facade does what the stack's entry point does, under itself: it validates its arguments
 * with the kit's validator (every mistake is reported with its property path, nothing is
 * registered) and builds the same program (stacks/program.ts: the substrate, then serving with a
 * ModelServer per model, the Gateway, Tenancy, the Flywheel, OPA, observability).
 *
 * The typed components take a `Substrate` (components/substrate.ts): an object with methods that
 * create resources (`bindWorkload`, `connectPostgres`), which no schema type can carry between
 * languages. So the substrate is built inside the facade, from its `substrate` argument.
 */
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, RuleCrashError } from "../stacks/config/errors";
import { parseConfig } from "../stacks/config/validate";
import { buildStack, type StackOutputs } from "../stacks/program";
import type { AwsSubstrate, ClusterSubstrate, PlatformSettings } from "./config-types";

// The SDK's root-resource slot (internal to @pulumi/pulumi, pinned in package.json): a resource
// created without a parent gets the resource in it as its parent.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const state = require("@pulumi/pulumi/runtime/state") as {
  getStackResource(): pulumi.Resource | undefined;
  setStackResource(r: pulumi.Resource | undefined): void;
};

/** The platform on a Kubernetes cluster you already have (the `existing-cluster` substrate). */
export interface ClusterPlatformArgs extends PlatformSettings {
  /** The cluster: kubeconfig context (and file), StorageClass, load-balancer annotations. */
  substrate: ClusterSubstrate;
}

/** The platform on AWS (VPC, EKS, Karpenter, S3, RDS, KMS: the `aws` substrate). */
export interface AwsPlatformArgs extends PlatformSettings {
  /** The AWS region everything is created in. */
  substrate: AwsSubstrate;
}

/** Where a value that must be known before deployment is an output instead, or undefined. */
export function outputPath(value: unknown, at: string): string | undefined {
  if (pulumi.Output.isInstance(value) || pulumi.Resource.isInstance(value)) return at;
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) {
      const found = outputPath(v, `${at}[${i}]`);
      if (found) return found;
    }
  } else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      const found = outputPath(v, at ? `${at}.${k}` : k);
      if (found) return found;
    }
  }
  return undefined;
}

/**
 * The stack config a facade's arguments stand for, validated by the kit's validator; every
 * problem is an {@link pulumi.InputPropertiesError} naming the argument's path.
 */
export function platformConfig(
  kind: "existing-cluster" | "aws",
  args: PlatformSettings & { substrate: ClusterSubstrate | AwsSubstrate },
  stack: string,
) {
  const bad = outputPath(args, "");
  if (bad !== undefined)
    throw new pulumi.InputPropertiesError({
      message: "the platform's arguments must be known before deployment",
      errors: [
        {
          propertyPath: bad,
          reason:
            "expected a plain value, found an output or a secret: the platform's shape (models, teams, pools) is decided before anything is created",
        },
      ],
    });
  const raw: Record<string, unknown> = { ...args, substrate: { kind, ...(args.substrate ?? {}) } };
  try {
    return parseConfig(raw, { stack });
  } catch (e) {
    if (e instanceof ConfigError)
      throw new pulumi.InputPropertiesError({
        message: `the platform's arguments have ${e.issues.length} problem${e.issues.length === 1 ? "" : "s"}`,
        errors: e.issues.map((i) => ({ propertyPath: i.path.replace(/^sovereign:/, ""), reason: i.message })),
      });
    if (e instanceof RuleCrashError) throw new pulumi.RunError(e.message);
    throw e;
  }
}

/** Builds the program with `parent` as the parent of every resource it creates. */
export function buildUnder<T = StackOutputs>(parent: pulumi.ComponentResource, build: () => T): T {
  const previous = state.getStackResource();
  state.setStackResource(parent);
  try {
    return build();
  } finally {
    state.setStackResource(previous);
  }
}

/** The facade outputs of one built platform. */
function platformOutputs(o: StackOutputs) {
  const record = (v: unknown) => pulumi.output((v ?? {}) as Record<string, pulumi.Input<string>>);
  return {
    profile: pulumi.output(o.profile),
    models: pulumi.output(o.models),
    teams: pulumi.output(o.teams),
    gatewayUrl: pulumi.output(o.gatewayUrl as pulumi.Input<string>),
    modelUrls: record(o.modelUrls),
    teamNamespaces: record(o.teamNamespaces),
    buckets: record(o.buckets),
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    outputs: pulumi.output(o).apply((v) => v as { [key: string]: any }),
  };
}

/**
 * The sovereign platform on an existing Kubernetes cluster: SeaweedFS object storage,
 * CloudNativePG, vLLM model servers behind the policy-enforcing gateway, OPA, team tenancy,
 * training and the flywheel, observability.
 */
export class ClusterPlatform extends pulumi.ComponentResource {
  /** `dev` or `prod`. */
  public readonly profile: pulumi.Output<string>;
  /** Names of the served models. */
  public readonly models: pulumi.Output<string[]>;
  /** Names of the teams. */
  public readonly teams: pulumi.Output<string[]>;
  /** The gateway's OpenAI-compatible base URL inside the cluster. */
  public readonly gatewayUrl: pulumi.Output<string>;
  /** The model server URL of every model. */
  public readonly modelUrls: pulumi.Output<{ [model: string]: string }>;
  /** The namespace of every team. */
  public readonly teamNamespaces: pulumi.Output<{ [team: string]: string }>;
  /** The bucket name of every role (models, datasets, checkpoints, captures, ...). */
  public readonly buckets: pulumi.Output<{ [role: string]: string }>;
  /** Every output of the stack program (endpoints, hosts; credentials stay secret). */
  public readonly outputs: pulumi.Output<{ [key: string]: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any

  constructor(name: string, args: ClusterPlatformArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sovereign:index:ClusterPlatform", name, {}, opts);
    const stack = pulumi.getStack();
    const config = platformConfig("existing-cluster", args, stack);
    const o = platformOutputs(buildUnder(this, () => buildStack(config, { stack })));
    this.profile = o.profile;
    this.models = o.models;
    this.teams = o.teams;
    this.gatewayUrl = o.gatewayUrl;
    this.modelUrls = o.modelUrls;
    this.teamNamespaces = o.teamNamespaces;
    this.buckets = o.buckets;
    this.outputs = o.outputs;
    this.registerOutputs(o);
  }
}

/**
 * The sovereign platform on AWS: VPC, KMS, EKS with Karpenter GPU pools, S3, RDS, then the same
 * platform as {@link ClusterPlatform} on top.
 */
export class AwsPlatform extends pulumi.ComponentResource {
  /** `dev` or `prod`. */
  public readonly profile: pulumi.Output<string>;
  /** Names of the served models. */
  public readonly models: pulumi.Output<string[]>;
  /** Names of the teams. */
  public readonly teams: pulumi.Output<string[]>;
  /** The gateway's OpenAI-compatible base URL inside the cluster. */
  public readonly gatewayUrl: pulumi.Output<string>;
  /** The model server URL of every model. */
  public readonly modelUrls: pulumi.Output<{ [model: string]: string }>;
  /** The namespace of every team. */
  public readonly teamNamespaces: pulumi.Output<{ [team: string]: string }>;
  /** The bucket name of every role (models, datasets, checkpoints, captures, ...). */
  public readonly buckets: pulumi.Output<{ [role: string]: string }>;
  /** Every output of the stack program (cluster name, kubeconfig, endpoints; secrets stay secret). */
  public readonly outputs: pulumi.Output<{ [key: string]: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any

  constructor(name: string, args: AwsPlatformArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sovereign:index:AwsPlatform", name, {}, opts);
    const stack = pulumi.getStack();
    const config = platformConfig("aws", args, stack);
    const o = platformOutputs(buildUnder(this, () => buildStack(config, { stack })));
    this.profile = o.profile;
    this.models = o.models;
    this.teams = o.teams;
    this.gatewayUrl = o.gatewayUrl;
    this.modelUrls = o.modelUrls;
    this.teamNamespaces = o.teamNamespaces;
    this.buckets = o.buckets;
    this.outputs = o.outputs;
    this.registerOutputs(o);
  }
}
