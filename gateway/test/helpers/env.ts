/**
 * The least environment `loadConfig` accepts (OPA, OIDC, an empty catalog): tests add what
 * they are about. Nothing in it is contacted by `loadConfig`.
 */
export const MINIMAL_GATEWAY_ENV: Readonly<Record<string, string>> = {
  GATEWAY_OPA_URL: "http://127.0.0.1:8181",
  GATEWAY_OIDC_ISSUER: "https://idp.example",
  GATEWAY_OIDC_AUDIENCE: "sovereign",
  GATEWAY_CATALOG: JSON.stringify({ teams: {}, models: {}, routes: {}, redactPatterns: [] }),
};
