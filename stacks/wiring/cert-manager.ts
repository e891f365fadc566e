/**
 * Platform wiring: cert-manager and the stack's CAs. Installed once, before the areas that ask
 * it for certificates: the gateway's private CA (`gateway.tls.mode: private-ca`) and the model CA
 * (every stack: the model servers serve HTTPS, components/lib/model-tls.ts) with, alongside it,
 * the Kueue CA (every stack, training on or not: Kueue's certificates and Prometheus's bundle of
 * it, components/lib/kueue-tls.ts). Where the substrate installed cert-manager (in-cluster) only
 * the CAs are added.
 */
import type * as pulumi from "@pulumi/pulumi";
import { caCommonName } from "../../components/lib/stack-ca";
import { kueueCaCommonName } from "../../components/lib/kueue-tls";
import { modelCaCommonName } from "../../components/lib/model-tls";
import { CertManager } from "../../components/platform/cert-manager";
import type { Substrate } from "../../components/substrate";
import type { StackConfig } from "../config/schema";
import { resolveSettings } from "../config/settings";
import type { StackContext } from "./context";

/** What certificates wait for. */
export interface PlatformCertManager {
  /** The release and, with `private-ca`, the gateway's CA issuer (`wireGatewayTls`). */
  readonly ready: pulumi.Resource[];
  /** The release and the model CA issuer; undefined when this call made no model CA. */
  readonly modelCaReady?: pulumi.Resource[];
  /** The release and the Kueue CA issuer; undefined when this call made no model CA (nor Kueue CA). */
  readonly kueueCaReady?: pulumi.Resource[];
}

/**
 * cert-manager (unless the substrate has it), the gateway's private CA when its TLS mode asks
 * for one, and the model and Kueue CAs unless `modelCa` is false (a part that does not own them). The
 * resource names are those the gateway's wiring used before, so existing stacks keep their CA.
 */
export function wireCertManager(
  config: StackConfig,
  ctx: StackContext,
  substrate: Substrate,
  o: { readonly modelCa: boolean },
): PlatformCertManager | undefined {
  const tls = config.gateway.tls;
  const installed = substrate.certManager?.ready;
  const gatewayCa = tls.mode === "private-ca" || tls.mode === "issuer";
  // Nothing to add: the substrate's release serves the gateway's `secret`/`off` modes as before.
  if (!gatewayCa && !o.modelCa) return undefined;
  const cm = new CertManager(
    installed ? "gateway-ca" : "cert-manager",
    {
      apiServer: substrate.apiServer,
      replicas: resolveSettings(config).opa.replicas,
      registryMirrors: substrate.registryMirrors,
      chartMirror: substrate.chartMirror,
      // ACME, Vault and cloud CAs are reached only for a customer's gateway issuer
      externalIssuers: tls.mode === "issuer",
      ...(tls.mode === "private-ca" ? { privateCaName: caCommonName(ctx.stack, "CA") } : {}),
      ...(o.modelCa
        ? { modelCaName: modelCaCommonName(ctx.stack), kueueCaName: kueueCaCommonName(ctx.stack) }
        : {}),
      ...(installed ? { installed } : {}),
    },
    { providers: [substrate.provider], dependsOn: [...substrate.ready] },
  );
  return {
    ready: cm.ready,
    ...(o.modelCa ? { modelCaReady: cm.modelCaReady, kueueCaReady: cm.kueueCaReady } : {}),
  };
}
