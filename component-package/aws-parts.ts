/**
 * The platform's parts on AWS as separate package components (docs/component-package.md):
 * `AwsSubstrate` publishes a plain-data handle (aws-handle.ts), and `AwsServing`, `AwsGateway`,
 * `AwsTenancy`, `AwsFlywheel`, `AwsPolicy` and `AwsObservability`, each built from that handle and
 * the platform's settings, create what the `AwsPlatform` facade creates.
 *
 * They are the existing-cluster parts (components.ts) with other input types: each calls the same
 * function as its cluster twin (`servingPart`, ...), which picks the substrate's rebuild by the
 * component, not by the handle (unknown in a first preview). A package schema cannot type one
 * input as either substrate's settings or either handle (Pulumi's component analyzer refuses
 * unions), so the substrate kind is in the component's type.
 */
import * as pulumi from "@pulumi/pulumi";
import { resolveSettings } from "../stacks/config/settings";
import { awsSubstrate } from "../stacks/wiring/aws";
import { registerAwsBindings, type AwsSubstrateHandle } from "./aws-handle";
import { flywheelPart, gatewayPart, servingPart, tenancyPart } from "./components";
import { type FlywheelIdentity, observabilityPart, policyPart } from "./policy-parts";
import { type AwsPlatformArgs, buildUnder, platformConfig } from "./platform";
import { wireCertManager } from "../stacks/wiring/cert-manager";

export type { AwsSubstrateHandle } from "./aws-handle";

/** A part of the platform on AWS: the platform's settings and the substrate's handle. */
export interface AwsPartArgs extends AwsPlatformArgs {
  /**
   * The `handle` output of an `AwsSubstrate` created with the same settings. An input (not
   * plain, unlike the settings): it is another resource's output.
   */
  handle: pulumi.Input<AwsSubstrateHandle>;
}

/**
 * The AWS substrate (KMS, VPC, EKS with Karpenter GPU pools, S3, RDS) for a platform's settings,
 * with the IAM role and Pod Identity association of every workload and the Postgres login of
 * every service the platform's parts will use, registered up front; `handle` is what
 * `AwsServing`, `AwsGateway`, `AwsTenancy` and `AwsFlywheel` take.
 */
export class AwsSubstrate extends pulumi.ComponentResource {
  /** What the substrate created: kubeconfig, buckets, egress rules, Postgres, identities (secret). */
  public readonly handle: pulumi.Output<AwsSubstrateHandle>;

  constructor(name: string, args: AwsPlatformArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sovereign:index:AwsSubstrate", name, {}, opts);
    const stack = pulumi.getStack();
    const config = platformConfig("aws", args, stack);
    // The stack program's substrate (its AWS provider, the account baseline when asked for),
    // under the same names, and the AWS side of every binding and login.
    const { s, bindings, cm } = buildUnder(this, () => {
      const s = awsSubstrate(config, { stack });
      // cert-manager and the stack's CAs (the model and Kueue CAs, the gateway's), as the stack program
      // installs them: the parts ask them for certificates.
      const cm = wireCertManager(config, { stack }, s, { modelCa: true })!;
      return { s, bindings: registerAwsBindings(s, config), cm };
    });
    const value = {
      kind: s.kind,
      region: s.objectStore.region,
      clusterName: s.eks.clusterName,
      kubeconfig: s.eks.kubeconfig,
      objectStore: {
        endpoint: s.objectStore.endpoint,
        region: s.objectStore.region,
        forcePathStyle: s.objectStore.forcePathStyle,
        buckets: s.objectStore.buckets,
      },
      egress: { objectStore: s.egressTargets.objectStore, postgres: s.egressTargets.postgres },
      registryMirrors: s.registryMirrors,
      postgres: {
        host: s.database.host,
        port: s.database.port,
        iamAuth: resolveSettings(config).database.iamAuth,
        logins: bindings.logins,
      },
      workloads: bindings.workloads,
    };
    // The handle resolves once the cluster, Karpenter, the identities and the logins exist, so
    // every resource a part derives from it waits for them.
    const ready = pulumi.all(
      [
        ...s.ready,
        ...bindings.ready,
        ...cm.ready,
        ...(cm.modelCaReady ?? []),
        ...(cm.kueueCaReady ?? []),
      ].map((r) => r.urn),
    );
    this.handle = pulumi.secret(
      pulumi.all([ready, pulumi.output(value)]).apply(([, v]) => v as unknown as AwsSubstrateHandle),
    );
    this.registerOutputs({ handle: this.handle });
  }
}

/**
 * Model serving on AWS: the `sovereign-serving` namespace and its NetworkPolicies, GPU
 * enablement, KEDA (where a model autoscales), one `ModelServer` per model.
 */
export class AwsServing extends pulumi.ComponentResource {
  /** The model server URL of every model. */
  public readonly modelUrls: pulumi.Output<{ [model: string]: string }>;
  /**
   * The API key of every model server that requires one (vLLM, on a GPU pool), by model (secret):
   * what `AwsGateway` and `AwsFlywheel` take as `modelApiKeys`.
   */
  public readonly modelApiKeys: pulumi.Output<{ [model: string]: string }>;

  constructor(name: string, args: AwsPartArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sovereign:index:AwsServing", name, {}, opts);
    const o = servingPart(this, name, args, "aws");
    this.modelUrls = o.modelUrls;
    this.modelApiKeys = o.modelApiKeys;
    this.registerOutputs(o);
  }
}

/** The gateway's part on AWS: the platform's settings, the substrate's handle and the model servers' keys. */
export interface AwsGatewayArgs extends AwsPartArgs {
  /**
   * The `modelApiKeys` output of `AwsServing`: the keys of the models the gateway routes to.
   * Required where a model runs vLLM (on a GPU pool). An input (not plain): another resource's output.
   */
  modelApiKeys?: pulumi.Input<{ [model: string]: pulumi.Input<string> }>;
}

/**
 * The policy-enforcing gateway on AWS: its namespace, ServiceAccount (its role is the
 * substrate's), Postgres CA bundle (and password, without IAM authentication), policy, catalog, TLS.
 */
export class AwsGateway extends pulumi.ComponentResource {
  /** The gateway's OpenAI-compatible base URL inside the cluster. */
  public readonly gatewayUrl: pulumi.Output<string>;

  constructor(name: string, args: AwsGatewayArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sovereign:index:AwsGateway", name, {}, opts);
    this.gatewayUrl = gatewayPart(this, name, args, "aws");
    this.registerOutputs({ gatewayUrl: this.gatewayUrl });
  }
}

/**
 * Teams on AWS: a namespace per team with its NetworkPolicies, RBAC, quotas and training
 * ServiceAccount, and Kueue (with training on).
 */
export class AwsTenancy extends pulumi.ComponentResource {
  /** The namespace of every team (what `AwsFlywheel` takes). */
  public readonly teamNamespaces: pulumi.Output<{ [team: string]: string }>;

  constructor(name: string, args: AwsPartArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sovereign:index:AwsTenancy", name, {}, opts);
    this.teamNamespaces = tenancyPart(this, name, args, "aws");
    this.registerOutputs({ teamNamespaces: this.teamNamespaces });
  }
}

/** The flywheel's part on AWS: the platform's settings, the substrate's handle and the team namespaces. */
export interface AwsFlywheelArgs extends AwsPartArgs {
  /** The `teamNamespaces` output of `AwsTenancy`: the flywheel waits for these namespaces. */
  teamNamespaces: pulumi.Input<{ [team: string]: pulumi.Input<string> }>;
  /**
   * The `modelApiKeys` output of `AwsServing`: a team's base model's key (its controller) and the
   * guard's (its eval). Required where one of those runs vLLM (on a GPU pool).
   */
  modelApiKeys?: pulumi.Input<{ [model: string]: pulumi.Input<string> }>;
}

/**
 * The flywheel on AWS of every team that turns it on (`teams[].flywheel`): its ServiceAccount,
 * Postgres CA bundle (and password), settings, NetworkPolicies and CronJobs in the team's
 * namespace, and the discovery Role in the serving namespace. Nothing where no team turns it on.
 */
export class AwsFlywheel extends pulumi.ComponentResource {
  /** The flywheel CronJob of every team that turns it on. */
  public readonly cronJobs: pulumi.Output<{ [team: string]: string }>;
  /**
   * The flywheel's identity in each flywheel team's namespace (its ServiceAccounts and the
   * Secrets its pods read): what `AwsPolicy` takes as `flywheelIdentities`.
   */
  public readonly flywheelIdentities: pulumi.Output<{ [team: string]: FlywheelIdentity }>;

  constructor(name: string, args: AwsFlywheelArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sovereign:index:AwsFlywheel", name, {}, opts);
    const o = flywheelPart(this, name, args, "aws");
    this.cronJobs = o.cronJobs;
    this.flywheelIdentities = o.flywheelIdentities;
    this.registerOutputs({ cronJobs: this.cronJobs, flywheelIdentities: this.flywheelIdentities });
  }
}

/** The policy part on AWS: the platform's settings, the substrate's handle and the flywheel's identities. */
export interface AwsPolicyArgs extends AwsPartArgs {
  /**
   * The `flywheelIdentities` output of `AwsFlywheel`: the identity the admission constraint
   * `K8sFlywheelIdentity` keeps to the kit in each team namespace. Required where a team turns the
   * flywheel on. An input (not plain): another resource's output.
   */
  flywheelIdentities?: pulumi.Input<{ [team: string]: pulumi.Input<FlywheelIdentity> }>;
}

/** OPA and Gatekeeper admission control on EKS, as `Policy` on a cluster. */
export class AwsPolicy extends pulumi.ComponentResource {
  /** OPA's REST API URL inside the cluster. */
  public readonly opaUrl: pulumi.Output<string>;

  constructor(name: string, args: AwsPolicyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sovereign:index:AwsPolicy", name, {}, opts);
    this.opaUrl = policyPart(this, name, args, "aws");
    this.registerOutputs({ opaUrl: this.opaUrl });
  }
}

/** Observability on EKS (kube-prometheus-stack, scrape objects, alert rules), as `Observability`. */
export class AwsObservability extends pulumi.ComponentResource {
  /** Prometheus' query API inside the cluster. */
  public readonly prometheusUrl: pulumi.Output<string>;
  /** Grafana's URL inside the cluster. */
  public readonly grafanaUrl: pulumi.Output<string>;
  /** The Secret (in the monitoring namespace) that holds Grafana's admin login. */
  public readonly grafanaAdminSecret: pulumi.Output<string>;
  /** Whether Alertmanager runs (`observability.alertmanager.receiver` is not `none`). */
  public readonly alertmanager: pulumi.Output<boolean>;

  constructor(name: string, args: AwsPartArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sovereign:index:AwsObservability", name, {}, opts);
    const o = observabilityPart(this, name, args, "aws");
    this.prometheusUrl = o.prometheusUrl;
    this.grafanaUrl = o.grafanaUrl;
    this.grafanaAdminSecret = o.grafanaAdminSecret;
    this.alertmanager = o.alertmanager;
    this.registerOutputs(o);
  }
}
