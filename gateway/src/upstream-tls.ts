/**
 * TLS to the model servers (the proxy, the guard, the adapter reads): the options every
 * connection is made with, and its errors in words.
 */
import type * as https from "node:https";
import { isIP } from "node:net";
import { checkServerIdentity as tlsCheckServerIdentity } from "node:tls";

/** Why a TLS connection to a model server failed, in words, or undefined for another error. */
export function tlsFailure(
  e: NodeJS.ErrnoException,
  caVariable = "GATEWAY_MODEL_CA_FILE",
): string | undefined {
  const code = e.code ?? "";
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") return `its certificate does not name the host (${e.message})`;
  if (
    /CERT|SELF_SIGNED|UNABLE_TO_(GET_ISSUER|VERIFY)|ERR_SSL|EPROTO/.test(code) ||
    /certificate|SSL routines|wrong version number/i.test(e.message)
  )
    return `its certificate was not accepted (${code || "TLS"}: ${e.message}); only the CA in ${caVariable} is trusted`;
  return undefined;
}

/** How the gateway verifies the model servers' certificates (`GatewayConfig.modelCa`). */
export interface UpstreamTls {
  /** CA certificates (PEM) trusted alone. @default the public CAs */
  readonly ca?: string;
}

/**
 * TLS options of a connection to a model server: its CA (when given) and the name its
 * certificate must carry (SNI too, unless it is an address). Verification is never turned off.
 */
export function upstreamTlsOptions(tls: UpstreamTls, serverName: string): https.AgentOptions {
  return {
    ...(tls.ca ? { ca: tls.ca } : {}),
    rejectUnauthorized: true,
    ...(serverName && isIP(serverName) === 0 ? { servername: serverName } : {}),
    checkServerIdentity: (_host, cert) => tlsCheckServerIdentity(serverName, cert),
  };
}
