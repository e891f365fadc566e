/** Platform wiring: observability. Maps the validated config to typed component args. */
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import {
  Observability,
  type AlertReceiver,
  type Dashboard,
  type ObservabilityArgs,
  urlPort,
} from "../../components/platform/observability";
import type { Substrate } from "../../components/substrate";
import type { StackConfig } from "../config/schema";
import { resolveSettings } from "../config/settings";
import type { StackContext } from "./context";

/** Where the repo keeps the dashboards' JSON files. */
export const DASHBOARD_DIR = path.resolve(__dirname, "../../components/platform/dashboards");

/** Reads every `*.json` of a directory as a dashboard; throws naming a file that is not JSON. */
export function loadDashboards(dir: string = DASHBOARD_DIR): Dashboard[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => {
      const json = fs.readFileSync(path.join(dir, f), "utf8");
      try {
        JSON.parse(json);
      } catch (e) {
        throw new Error(`expected dashboard ${f} to be JSON, found: ${(e as Error).message}`);
      }
      return { name: f.replace(/\.json$/, ""), json };
    });
}

/** The component args for a validated config (pure; secrets are wrapped as Pulumi secrets). */
export function observabilityArgs(
  config: StackConfig,
  ctx: StackContext,
  substrate: Pick<
    Substrate,
    "storageClasses" | "registryMirrors" | "chartMirror" | "loadBalancerAnnotations" | "apiServer" | "nodes"
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
            port: urlPort(s.alertWebhookUrl!),
          }
        : {
            receiver: "email",
            to: am.to,
            from: am.from,
            smarthost: am.smarthost,
            ...(am.auth && s.smtpPassword !== undefined ? { password: pulumi.secret(s.smtpPassword) } : {}),
          };
  const oidc = o.grafana.oidc;
  const settings = resolveSettings(config);
  return {
    apiServer: substrate.apiServer,
    nodes: substrate.nodes,
    footprint: settings.observability.footprint,
    retainData: settings.dataProtection.protect,
    storageClass: substrate.storageClasses.default,
    registryMirrors: substrate.registryMirrors,
    chartMirror: substrate.chartMirror,
    internalLoadBalancerAnnotations: substrate.loadBalancerAnnotations("internal"),
    storageSize: o.storageSize,
    retention: settings.observability.retention,
    replicas: settings.observability.replicas,
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

/** What observability uses of the substrate (the package's `Observability` part passes no more). */
export type ObservabilitySubstrate = Pick<
  Substrate,
  | "provider"
  | "ready"
  | "storageClasses"
  | "registryMirrors"
  | "chartMirror"
  | "loadBalancerAnnotations"
  | "apiServer"
  | "nodes"
  | "certManager"
>;

export function wireObservability(
  config: StackConfig,
  ctx: StackContext,
  substrate: ObservabilitySubstrate,
  /** What the model CA bundle's Certificate waits for (`wireCertManager`). @default the substrate's cert-manager */
  modelCaReady?: readonly pulumi.Resource[],
  /** What the Kueue CA bundle's Certificate waits for (`wireCertManager`). @default the substrate's cert-manager */
  kueueCaReady?: readonly pulumi.Resource[],
): Record<string, unknown> {
  const obs = new Observability(
    "observability",
    {
      ...observabilityArgs(config, ctx, substrate, loadDashboards()),
      // the model servers serve HTTPS: Prometheus verifies them with the model CA
      modelCa: { dependsOn: [...(modelCaReady ?? substrate.certManager?.ready ?? [])] },
      // Kueue serves its metrics with a certificate of the Kueue CA: Prometheus verifies it with that CA
      kueueCa: { dependsOn: [...(kueueCaReady ?? substrate.certManager?.ready ?? [])] },
    },
    { providers: [substrate.provider], dependsOn: [...substrate.ready] },
  );
  return {
    prometheusUrl: obs.prometheusUrl,
    grafanaUrl: obs.grafanaUrl,
    grafanaAdminSecret: obs.grafanaAdminSecretName,
    alertmanager: obs.alertmanagerEnabled,
  };
}
