/** Platform wiring: gateway. Maps the validated config to typed component args. */
import { PRIVATE_CA_ISSUER } from "../../components/platform/cert-manager";
import { Gateway, type GatewayTls } from "../../components/platform/gateway";
import type * as pulumi from "@pulumi/pulumi";
import { flywheelTeams } from "../../components/flywheel/plan";
import { modelServerUrl } from "../../components/lib/endpoints";
import { PLATFORM_NAMESPACES } from "../../components/lib/naming";
import { IMAGES } from "../../components/lib/versions";
import type { Substrate } from "../../components/substrate";
import type { Catalog } from "../../components/lib/contracts";
import type { StackConfig } from "../config/schema";
import { resolveSettings } from "../config/settings";
import type { StackContext } from "./context";
import { opaDataOf } from "./policy";
import { compileGatewayPolicy } from "./policy-wasm";
import { type PlatformCertManager, wireCertManager } from "./cert-manager";

/** The gateway's catalog: teams, models (adapters point at their base) and model server URLs. */
export function gatewayCatalog(config: StackConfig): Catalog {
  const teams: Record<string, Catalog["teams"][string]> = {};
  const flywheelAdapters = new Map(flywheelTeams(config).map((f) => [f.team, f.adapter]));
  for (const t of config.teams) {
    const flywheelAdapter = flywheelAdapters.get(t.name);
    teams[t.name] = {
      oidcGroup: t.oidcGroup,
      clearance: t.clearance,
      budgets: t.budgets,
      // the gateway grants the team's registry login its rights, for this adapter only
      ...(flywheelAdapter ? { flywheelAdapter } : {}),
    };
  }
  const models: Record<string, Catalog["models"][string]> = {};
  const routes: Record<string, string> = {};
  for (const m of config.models) {
    models[m.name] = { role: m.role, dataClassification: m.dataClassification };
    routes[m.name] = modelServerUrl(m.name);
    for (const a of m.loraAdapters)
      models[a.name] = { role: m.role, baseModel: m.name, dataClassification: m.dataClassification };
  }
  // A team's flywheel adapter is served by its base model's server under its stable name; its
  // classification starts at the base model's (the policy never lets a version lower it).
  for (const t of config.teams) {
    const f = t.flywheel;
    if (!f?.enabled || models[f.adapter]) continue;
    const base = config.models.find((m) => m.name === f.baseModel);
    models[f.adapter] = {
      role: "chat",
      baseModel: f.baseModel,
      dataClassification: base?.dataClassification,
      flywheel: true,
    };
  }
  return { teams, models, routes, redactPatterns: config.gateway.redactPatterns };
}

/** Replica bounds: explicit config, else the profile's HA count (resolved in `config/settings.ts`). */
export function gatewayReplicas(config: StackConfig): { min: number; max: number } {
  return resolveSettings(config).gateway.replicas;
}

/**
 * The gateway's TLS from `gateway.tls`: with `private-ca` or `issuer`, cert-manager is installed
 * (and, for `private-ca`, the stack's CA) by `wireCertManager`; `secret` and `off` need neither.
 * `cm`: what `wireCertManager` made for the whole platform; absent, it is made here (without the
 * model CA, which the serving part owns).
 */
export function wireGatewayTls(
  config: StackConfig,
  ctx: StackContext,
  substrate: Substrate,
  cm?: PlatformCertManager,
): GatewayTls {
  const tls = config.gateway.tls;
  if (tls.mode === "off") return { mode: "off" };
  if (tls.mode === "secret") return { mode: "secret", secretName: tls.secretName! };
  const made = cm ?? wireCertManager(config, ctx, substrate, { modelCa: false });
  return {
    mode: "issuer",
    issuer: tls.mode === "private-ca" ? PRIVATE_CA_ISSUER : tls.issuer!,
    dnsNames: tls.dnsNames,
    dependsOn: made?.ready ?? [],
  };
}

export function wireGateway(
  config: StackConfig,
  ctx: StackContext,
  substrate: Substrate,
  /** The serving namespace as created (the discovery Role waits for it) and the model servers' API keys. */
  serving: {
    servingNamespace?: pulumi.Output<string>;
    modelApiKeys?: Readonly<Record<string, pulumi.Output<string>>>;
    /** cert-manager and the CAs as `wireCertManager` made them for the platform. @default made here */
    certManager?: PlatformCertManager;
  } = {},
): Record<string, unknown> {
  const settings = resolveSettings(config).gateway;
  const gw = new Gateway("gateway", {
    substrate,
    tls: wireGatewayTls(config, ctx, substrate, serving.certManager),
    // The model servers serve HTTPS: the model CA's bundle in the gateway's namespace.
    modelCa: {
      dependsOn: serving.certManager?.modelCaReady ?? [...(substrate.certManager?.ready ?? [])],
    },
    requireTls: settings.requireTls,
    highAvailability: settings.highAvailability,
    auditSync: settings.auditSync,
    image: config.images.gateway ?? config.gateway.image ?? IMAGES.gateway,
    replicas: gatewayReplicas(config),
    oidc: {
      issuer: config.gateway.oidc.issuer,
      audience: config.gateway.oidc.audience,
      jwksUri: config.gateway.oidc.jwksUri,
      groupsClaim: config.gateway.oidc.groupsClaim,
    },
    catalog: gatewayCatalog(config),
    public: config.gateway.public,
    maxBodyBytes: config.gateway.maxBodyBytes,
    opaTimeoutMs: config.gateway.opaTimeoutMs,
    // The decision's deadline covers the guard call (same value as the policy data's).
    guardTimeoutMs: config.policy.guardModel ? config.policy.guardTimeoutMs : 0,
    guardStreamWindowChars: config.policy.guardStreamWindowChars,
    // In process: the same Rego and data OPA gets (stacks/wiring/policy.ts), compiled to Wasm.
    policy: { wasmGzip: compileGatewayPolicy(), data: opaDataOf(config) },
    ...(serving.servingNamespace
      ? { namespaces: { [PLATFORM_NAMESPACES.serving]: serving.servingNamespace } }
      : {}),
    // the gateway calls every model it routes to (the guard included): their keys
    ...(serving.modelApiKeys ? { modelApiKeys: serving.modelApiKeys } : {}),
  });
  return { gatewayUrl: gw.url, gatewayLoadBalancer: gw.loadBalancer };
}
