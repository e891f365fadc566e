/**
 * The flywheel of every team that turns it on (docs/flywheel.md), created by `pulumi up`: per
 * team, in the team's namespace, the `flywheel` workload identity from the substrate (it alone
 * may read the team's own `captures/team=<team>/` partition), the `flywheel-env` ConfigMap, an
 * egress rule to OPA (the dataset builder asks its data_access decision), the CronJob that runs
 * the chained loop through the team's Kueue LocalQueue (its init container reads the incumbent
 * from the registry), the team's `flywheel` Postgres login, and the controller CronJob that
 * registers each run and steps its canary (with a Role in the serving namespace to list the
 * model servers' EndpointSlices, and the flows to Postgres, the API server and the base model's
 * pods). Thin: the objects come from `plan.ts`.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { flywheelRoleOf } from "../lib/contracts";
import { FLYWHEEL_STAGE_LABEL, k8sLabels, teamLabels } from "../lib/labels";
import { modelServerPodLabels } from "../lib/endpoints";
import { mirrorImage } from "../lib/images";
import { PLATFORM_NAMESPACES } from "../lib/naming";
import type { ApiServerPeers } from "../lib/network-policy";
import { clusterNamespaceOf, targetOfUrl } from "../platform/tenancy-plan";
import type { EgressRule, Substrate } from "../substrate";
import { baseModelPrefixes } from "../lib/scopes";
import { modelKeyRef, type ModelKeyRef } from "../lib/model-keys";
import { modelApiKeySecret } from "../platform/model-keys";
import { modelCaBundleCertificate } from "../lib/model-tls";
import type { ModelCaBundle } from "../platform/cert-manager";
import {
  FLYWHEEL_DISCOVERY_RULES,
  FLYWHEEL_ENV_CONFIGMAP,
  FLYWHEEL_SERVICE_ACCOUNT,
  flywheelEnvData,
  renderFlywheelControllerCronJob,
  renderFlywheelCronJob,
  type FlywheelController,
  flywheelProtectedNames,
  type FlywheelProtectedNames,
  type FlywheelRunIdentity,
  type FlywheelTeamInput,
} from "./plan";

export interface FlywheelArgs {
  readonly substrate: Substrate;
  /** Teams whose flywheel is enabled (`flywheelTeams(config)`). */
  readonly teams: readonly FlywheelTeamInput[];
  /** The team namespaces (from Tenancy), by team. */
  readonly namespaces: Readonly<Record<string, pulumi.Input<string>>>;
  /** OPA's in-cluster URL (`opaUrl()`). */
  readonly opaUrl: string;
  /**
   * The guard the eval's safety task asks: the policy data's `guard.url` and `guard.model` (what
   * the gateway and OPA screen with). @default none (the safety task stops with a named error)
   */
  readonly guard?: { readonly url: string; readonly model: string };
  /** Resources the CronJobs wait for (the LocalQueues). @default [] */
  readonly dependsOn?: readonly pulumi.Resource[];
  /** The gateway's image: the controller (init container and controller CronJob) runs from it. */
  readonly gatewayImage: string;
  /** The serving namespace as created (the discovery Role and the ingress rules live there). @default its name */
  readonly servingNamespace?: pulumi.Input<string>;
  /**
   * The API keys of the model servers that require one, by model name: a team gets, in Secrets of
   * its namespace, its base model's (the controller) and the guard's (the eval). @default none
   */
  readonly modelApiKeys?: Readonly<Record<string, pulumi.Input<string>>>;
  /**
   * The model servers serve HTTPS (components/lib/model-tls.ts): each team namespace gets the
   * model CA's bundle (after `dependsOn`, the model CA issuer), which the controller and the
   * eval verify the base model and the guard with. @default none
   */
  readonly modelCa?: ModelCaBundle;
}

/** Name of the Role (serving namespace) that lets the controllers list the model servers' EndpointSlices. */
export const FLYWHEEL_DISCOVERY_ROLE = "sovereign-flywheel-discovery";

/**
 * The controller's flows, besides the object store (which every team pod reaches): every
 * flywheel pod (the chain's init container, the controller) to Postgres (the substrate's rules);
 * the controller's pods to the API server (EndpointSlices) and to the base model's pods on the
 * API port (runtime LoRA endpoints, /v1/models); and the base model's matching ingress.
 */
export function flywheelControllerPolicies(
  namespace: string,
  team: string,
  costCenter: string,
  baseModel: string,
  postgres: readonly EgressRule[],
  apiServer: ApiServerPeers,
  servingNamespace: string = PLATFORM_NAMESPACES.serving,
): Record<string, unknown>[] {
  const labels = { ...k8sLabels("flywheel", team), ...teamLabels(team, costCenter) };
  const flywheelPods = { matchExpressions: [{ key: FLYWHEEL_STAGE_LABEL, operator: "Exists" }] };
  const controllerPods = { matchLabels: { [FLYWHEEL_STAGE_LABEL]: "controller" } };
  const modelPods = { matchLabels: modelServerPodLabels(baseModel) };
  const nsSel = (n: string) => ({ matchLabels: { "kubernetes.io/metadata.name": n } });
  const api = [{ protocol: "TCP", port: 8000 }];
  const policy = (name: string, ns: string, spec: Record<string, unknown>) => ({
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: name.slice(0, 63), namespace: ns, labels },
    spec,
  });
  return [
    policy("allow-flywheel-postgres", namespace, {
      podSelector: flywheelPods,
      policyTypes: ["Egress"],
      egress: postgres.map((r) => ({
        to: r.to.map((t) => ({ ...t })),
        ports: r.ports.map((p) => ({ ...p })),
      })),
    }),
    policy("allow-flywheel-controller", namespace, {
      podSelector: controllerPods,
      policyTypes: ["Egress"],
      egress: [
        {
          to: apiServer.peers.map((p) => ({ ...p })),
          ports: apiServer.ports.map((port) => ({ protocol: "TCP", port })),
        },
        { to: [{ namespaceSelector: nsSel(servingNamespace), podSelector: modelPods }], ports: api },
      ],
    }),
    policy(`allow-flywheel-${team}-controller`, servingNamespace, {
      podSelector: modelPods,
      policyTypes: ["Ingress"],
      ingress: [{ from: [{ namespaceSelector: nsSel(namespace), podSelector: controllerPods }], ports: api }],
    }),
  ];
}

/** Egress of a team's flywheel pods to OPA's port in the policy namespace. */
export function flywheelOpaEgress(
  namespace: string,
  team: string,
  costCenter: string,
): Record<string, unknown> {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: {
      name: "allow-flywheel-opa",
      namespace,
      labels: { ...k8sLabels("flywheel", team), ...teamLabels(team, costCenter) },
    },
    spec: {
      podSelector: { matchExpressions: [{ key: FLYWHEEL_STAGE_LABEL, operator: "Exists" }] },
      policyTypes: ["Egress"],
      egress: [
        {
          to: [
            {
              namespaceSelector: {
                matchLabels: { "kubernetes.io/metadata.name": PLATFORM_NAMESPACES.policy },
              },
            },
          ],
          ports: [{ protocol: "TCP", port: 8181 }],
        },
      ],
    },
  };
}

/**
 * The flows from a team's flywheel pods to the guard model's pods on the guard URL's port: the
 * egress rule in the team namespace and the ingress rule in the guard's namespace (the model
 * server's own policy admits only the gateway, OPA and monitoring). None when the URL is not an
 * in-cluster Service.
 */
export function flywheelGuardPolicies(
  namespace: string,
  team: string,
  costCenter: string,
  guard: { readonly url: string; readonly model: string },
): Record<string, unknown>[] {
  const t = targetOfUrl(guard.url);
  const guardNs = clusterNamespaceOf(t.host);
  if (!guardNs) return [];
  const labels = { ...k8sLabels("flywheel", team), ...teamLabels(team, costCenter) };
  const flywheelPods = { matchExpressions: [{ key: FLYWHEEL_STAGE_LABEL, operator: "Exists" }] };
  const guardPods = { matchLabels: modelServerPodLabels(guard.model) };
  const ports = [{ protocol: "TCP", port: t.port }];
  const nsSel = (n: string) => ({ matchLabels: { "kubernetes.io/metadata.name": n } });
  return [
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: "allow-flywheel-guard", namespace, labels },
      spec: {
        podSelector: flywheelPods,
        policyTypes: ["Egress"],
        egress: [{ to: [{ namespaceSelector: nsSel(guardNs), podSelector: guardPods }], ports }],
      },
    },
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: `allow-flywheel-${team}-guard`.slice(0, 63), namespace: guardNs, labels },
      spec: {
        podSelector: guardPods,
        policyTypes: ["Ingress"],
        ingress: [{ from: [{ namespaceSelector: nsSel(namespace), podSelector: flywheelPods }], ports }],
      },
    },
  ];
}

export class Flywheel extends pulumi.ComponentResource {
  /** CronJob name per team. */
  readonly cronJobs: Readonly<Record<string, pulumi.Output<string>>>;
  /**
   * Per team, what the chain's pod was rendered with (no secret values): a manual run
   * (`npm run flywheel -- run`, stack output `flywheelRunIdentities`) renders the same pod from it.
   */
  readonly runIdentities: Readonly<Record<string, pulumi.Output<FlywheelRunIdentity>>>;
  /**
   * Per team, the ServiceAccount and Secrets of its namespace that only the kit's own CronJobs
   * may use (the admission constraint K8sFlywheelIdentity's parameters; docs/access-control.md).
   */
  readonly protectedNames: Readonly<Record<string, pulumi.Output<FlywheelProtectedNames>>>;

  constructor(name: string, args: FlywheelArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("sovereign:flywheel:Flywheel", name, {}, opts);
    const provider = args.substrate.provider;
    const store = args.substrate.objectStore;
    const cronJobs: Record<string, pulumi.Output<string>> = {};
    const runIdentities: Record<string, pulumi.Output<FlywheelRunIdentity>> = {};
    const protectedNames: Record<string, pulumi.Output<FlywheelProtectedNames>> = {};
    // Created after (and so deleted before) the substrate and the team namespaces.
    const ready = [...args.substrate.ready, ...(args.dependsOn ?? [])];
    const servingNs = args.servingNamespace ?? PLATFORM_NAMESPACES.serving;
    const rbacLabels = k8sLabels("flywheel", "discovery");
    // The controllers list the base models' EndpointSlices: list and watch there, nothing else.
    const role = args.teams.length
      ? new k8s.rbac.v1.Role(
          `${name}-discovery`,
          {
            metadata: { name: FLYWHEEL_DISCOVERY_ROLE, namespace: servingNs, labels: rbacLabels },
            rules: FLYWHEEL_DISCOVERY_RULES.map((r) => ({ ...r })),
          },
          { parent: this, provider, dependsOn: ready },
        )
      : undefined;
    for (const f of args.teams) {
      const ns = args.namespaces[f.team];
      if (ns === undefined)
        throw new Error(`flywheel: expected a namespace for team "${f.team}", found none`);
      const base = `${name}-${f.team}`;
      const child = { parent: this, provider, dependsOn: ready };
      const access = args.substrate.bindWorkload(
        base,
        {
          kind: "flywheel",
          namespace: ns,
          serviceAccountName: FLYWHEEL_SERVICE_ACCOUNT,
          team: f.team,
          readModels: baseModelPrefixes(f.baseModelSource ? [f.baseModelSource] : []),
        },
        { parent: this, dependsOn: ready },
      );
      const cm = new k8s.core.v1.ConfigMap(
        `${base}-env`,
        {
          metadata: {
            name: FLYWHEEL_ENV_CONFIGMAP,
            namespace: ns,
            labels: { ...k8sLabels("flywheel", f.team), ...teamLabels(f.team, f.costCenter) },
          },
          data: pulumi
            .all([store.endpoint, store.buckets.inferenceLogs, store.buckets.datasets, store.buckets.models])
            .apply(([endpoint, inferenceLogs, datasets, models]) =>
              flywheelEnvData(f, {
                buckets: { inferenceLogs, datasets, models },
                opaUrl: args.opaUrl,
                ...(args.guard ? { guard: args.guard } : {}),
                endpoint,
                region: store.region,
                forcePathStyle: store.forcePathStyle,
              }),
            ),
        },
        child,
      );
      const np = pulumi.output(ns).apply((n) => flywheelOpaEgress(n, f.team, f.costCenter));
      new k8s.networking.v1.NetworkPolicy(
        `${base}-opa-egress`,
        { metadata: np.apply((o) => o.metadata as never), spec: np.apply((o) => o.spec as never) },
        child,
      );
      const guard = args.guard;
      if (guard && clusterNamespaceOf(targetOfUrl(guard.url).host)) {
        const policies = pulumi
          .output(ns)
          .apply((n) => flywheelGuardPolicies(n, f.team, f.costCenter, guard));
        for (const [i, suffix] of ["guard-egress", "guard-ingress"].entries()) {
          const p = policies.apply((all) => all[i]);
          new k8s.networking.v1.NetworkPolicy(
            `${base}-${suffix}`,
            { metadata: p.apply((o) => o.metadata as never), spec: p.apply((o) => o.spec as never) },
            child,
          );
        }
      }
      // The keys of the model servers this team's pods call: the base model (the controller) and
      // the guard (the eval's safety set); nothing else of the serving namespace.
      const keyLabels = { ...k8sLabels("flywheel", f.team), ...teamLabels(f.team, f.costCenter) };
      const apiKeys: { baseModel?: ModelKeyRef; guard?: ModelKeyRef } = {};
      const keySecrets: pulumi.Resource[] = [];
      for (const [role, model] of [
        ["baseModel", f.baseModel],
        ["guard", args.guard?.model],
      ] as const) {
        const key = model === undefined ? undefined : args.modelApiKeys?.[model];
        if (model === undefined || key === undefined) continue;
        apiKeys[role] = modelKeyRef(model);
        if (role === "guard" && model === f.baseModel) continue; // one Secret serves both
        keySecrets.push(modelApiKeySecret(`${base}-${role}-api-key`, model, ns, key, keyLabels, child));
      }
      // The model CA's bundle: what the controller and the eval verify the model servers with.
      if (args.modelCa) {
        const bundle = modelCaBundleCertificate(`team-${f.team}`);
        keySecrets.push(
          new k8s.apiextensions.CustomResource(
            `${base}-model-server-ca`,
            { ...bundle, metadata: { ...bundle.metadata, namespace: ns } },
            { ...child, dependsOn: [...ready, ...(args.modelCa.dependsOn ?? [])] },
          ),
        );
      }
      // The team's own registry writer login (`fw-<team>`), in this team's namespace only.
      const db = args.substrate.connectPostgres(
        `${base}-postgres`,
        flywheelRoleOf(f.team),
        ns,
        { parent: this, dependsOn: ready },
        access,
      );
      const rootCert = db.rootCert;
      const controller: pulumi.Output<FlywheelController> = pulumi
        .all([
          db.host,
          db.port,
          db.secretName,
          "configMapName" in rootCert ? rootCert.configMapName : rootCert.secretName,
          args.substrate.registryMirrors,
        ])
        .apply(([host, port, secretName, certName, mirrors]) => ({
          image: mirrorImage(args.gatewayImage, mirrors),
          postgres: {
            host,
            port,
            database: db.database,
            sslMode: db.sslMode,
            ...(db.iamAuth ? { iamAuth: { user: db.iamAuth.user, region: store.region } } : { secretName }),
            rootCert:
              "configMapName" in rootCert
                ? { configMapName: certName, key: rootCert.key }
                : { secretName: certName, key: rootCert.key },
          },
        }));
      const identity = pulumi
        .all([access.serviceAccountName, access.env, access.caBundle?.secretName, controller])
        .apply(([sa, env, caSecret, ctl]): FlywheelRunIdentity => ({
          serviceAccountName: sa,
          env: env,
          ...(caSecret && access.caBundle
            ? { caBundle: { secretName: caSecret, key: access.caBundle.key } }
            : {}),
          controller: ctl,
          ...(Object.keys(apiKeys).length ? { apiKeys } : {}),
          ...(args.modelCa ? { modelCa: true } : {}),
        }));
      const cron = identity.apply((id) => renderFlywheelCronJob(f, id));
      const job = new k8s.batch.v1.CronJob(
        `${base}-cron`,
        {
          metadata: pulumi
            .all([cron, ns])
            .apply(([c, n]) => ({ ...(c.metadata as object), namespace: n }) as never),
          spec: cron.apply((c) => c.spec as never),
        },
        { ...child, dependsOn: [...ready, cm, ...keySecrets, ...access.dependsOn, ...db.dependsOn] },
      );
      cronJobs[f.team] = job.metadata.name;
      runIdentities[f.team] = identity;
      protectedNames[f.team] = pulumi
        .all([identity, ns])
        .apply(([id, n]) => ({ ...flywheelProtectedNames(f, id), namespace: n }));

      const ctlCron = identity.apply((id) => renderFlywheelControllerCronJob(f, id));
      const binding = new k8s.rbac.v1.RoleBinding(
        `${base}-discovery`,
        {
          metadata: {
            name: `${FLYWHEEL_DISCOVERY_ROLE}-${f.team}`.slice(0, 63),
            namespace: servingNs,
            labels: { ...rbacLabels, ...teamLabels(f.team, f.costCenter) },
          },
          subjects: [{ kind: "ServiceAccount", name: access.serviceAccountName, namespace: ns }],
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: FLYWHEEL_DISCOVERY_ROLE },
        },
        { ...child, dependsOn: [...ready, ...(role ? [role] : [])] },
      );
      const flows = pulumi
        .all([ns, args.substrate.egressTargets.postgres, servingNs])
        .apply(([n, pg, sns]) =>
          flywheelControllerPolicies(n, f.team, f.costCenter, f.baseModel, pg, args.substrate.apiServer, sns),
        );
      const policies = ["postgres-egress", "controller-egress", "controller-ingress"].map((suffix, i) => {
        const p = flows.apply((all) => all[i]);
        return new k8s.networking.v1.NetworkPolicy(
          `${base}-${suffix}`,
          { metadata: p.apply((o) => o.metadata as never), spec: p.apply((o) => o.spec as never) },
          child,
        );
      });
      new k8s.batch.v1.CronJob(
        `${base}-controller`,
        {
          metadata: pulumi
            .all([ctlCron, ns])
            .apply(([c, n]) => ({ ...(c.metadata as object), namespace: n }) as never),
          spec: ctlCron.apply((c) => c.spec as never),
        },
        {
          ...child,
          dependsOn: [
            ...ready,
            cm,
            binding,
            ...policies,
            ...keySecrets,
            ...access.dependsOn,
            ...db.dependsOn,
          ],
        },
      );
    }
    this.cronJobs = cronJobs;
    this.runIdentities = runIdentities;
    this.protectedNames = protectedNames;
    this.registerOutputs({ cronJobs, runIdentities });
  }
}
