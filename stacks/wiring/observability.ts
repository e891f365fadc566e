/** Platform wiring: observability. Maps the validated config to typed component args. */
import * as pulumi from "@pulumi/pulumi";
import {
  loadDashboards,
  Observability,
  type AlertReceiver,
  type Dashboard,
  type ObservabilityArgs,
} from "../../components/platform/observability";
import type { Substrate } from "../../components/substrate";
import type { StackConfig } from "../config/schema";
import type { StackContext } from "./context";

/** The component args for a validated config (pure; secrets are wrapped as Pulumi secrets). */
export function observabilityArgs(
  config: StackConfig,
  ctx: StackContext,
  substrate: Pick<
    Substrate,
    "storageClasses" | "registryMirrors" | "chartMirror" | "loadBalancerAnnotations"
  >,
  dashboards: readonly Dashboard[],
): ObservabilityArgs {
  const o = config.observability;
  const s = config.secrets;
  const missing = (what: string, key: string): never => {
    // the config rules report this first; this guards direct callers
    throw new Error(`expected sovereign:secrets.${key} for ${what}, found none`);
  };
  const am = o.alertmanager;
  const alerting: AlertReceiver =
    am.receiver === "none"
      ? { receiver: "none" }
      : am.receiver === "webhook"
        ? {
            receiver: "webhook",
            url: pulumi.secret(s.alertWebhookUrl ?? missing("the webhook receiver", "alertWebhookUrl")),
          }
        : {
            receiver: "email",
            to: am.to,
            from: am.from,
            smarthost: am.smarthost,
            ...(am.auth && s.smtpPassword !== undefined ? { password: pulumi.secret(s.smtpPassword) } : {}),
          };
  const oidc = o.grafana.oidc;
  return {
    profile: config.profile,
    storageClass: substrate.storageClasses.default,
    registryMirrors: substrate.registryMirrors,
    chartMirror: substrate.chartMirror,
    internalLoadBalancerAnnotations: substrate.loadBalancerAnnotations("internal"),
    storageSize: o.storageSize,
    ...(o.retention !== undefined ? { retention: o.retention } : {}),
    ...(o.replicas !== undefined ? { replicas: o.replicas } : {}),
    alerting,
    grafana: {
      exposed: o.grafana.exposed,
      ...(o.grafana.url !== undefined ? { url: o.grafana.url } : {}),
      ...(oidc
        ? {
            oidc: {
              ...oidc,
              clientSecret: pulumi.secret(
                s.grafanaOidcClientSecret ?? missing("Grafana OIDC", "grafanaOidcClientSecret"),
              ),
            },
          }
        : {}),
    },
    dashboards,
    externalLabels: { stack: ctx.stack },
  };
}

export function wireObservability(
  config: StackConfig,
  ctx: StackContext,
  substrate: Substrate,
): Record<string, unknown> {
  const obs = new Observability(
    "observability",
    observabilityArgs(config, ctx, substrate, loadDashboards()),
    { providers: [substrate.provider], dependsOn: [...substrate.ready] },
  );
  return {
    prometheusUrl: obs.prometheusUrl,
    grafanaUrl: obs.grafanaUrl,
    grafanaAdminSecret: obs.grafanaAdminSecretName,
    alertmanager: obs.alertmanagerEnabled,
  };
}
