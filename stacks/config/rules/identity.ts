/**
 * Identity provider URLs: an OIDC issuer, its JWKS and Grafana's endpoints are `http` or
 * `https` URLs, and `https` where the settings require it (prod): over plain `http` the signing
 * keys and tokens that decide every request's team could be read or replaced on the way.
 */
import type { ConfigIssue } from "../errors";
import { issue, type Rule } from "./helpers";

function scheme(url: string): string {
  return url.slice(0, Math.max(0, url.indexOf(":"))).toLowerCase();
}

export const identityUrls: Rule = ({ config, settings }) => {
  const urls: [string, string | undefined][] = [
    ["gateway.oidc.issuer", config.gateway.oidc.issuer],
    ["gateway.oidc.jwksUri", config.gateway.oidc.jwksUri],
  ];
  const g = config.observability.grafana.oidc;
  if (g)
    urls.push(
      ["observability.grafana.oidc.issuer", g.issuer],
      ["observability.grafana.oidc.authUrl", g.authUrl],
      ["observability.grafana.oidc.tokenUrl", g.tokenUrl],
      ["observability.grafana.oidc.userinfoUrl", g.userinfoUrl],
    );
  const out: ConfigIssue[] = [];
  for (const [path, url] of urls) {
    if (url === undefined) continue;
    const s = scheme(url);
    if (s !== "http" && s !== "https") out.push(issue(path, `expected an http(s) URL, found "${url}"`));
    else if (s === "http" && settings.identity.httpsOnly)
      out.push(
        issue(
          path,
          `expected an https URL in ${config.profile} (plain http lets the identity provider's keys and tokens be read or replaced in transit; it is a dev option), found "${url}"`,
        ),
      );
  }
  return out;
};

export const IDENTITY_RULES: Rule[] = [identityUrls];
