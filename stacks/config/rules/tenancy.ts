/** Rules of the tenancy area: each team's OIDC group names exactly one team. */
import type { ConfigIssue } from "../errors";
import { issue, type Rule } from "./helpers";

/** A group of only spaces passes the schema's `min(1)` but matches no token claim. */
export const oidcGroupNotBlank: Rule = ({ config }) =>
  config.teams.flatMap((t, index) =>
    t.oidcGroup.trim().length === 0
      ? [
          issue(
            `teams[${index}].oidcGroup`,
            `expected a non-empty OIDC group, found ${JSON.stringify(t.oidcGroup)}`,
          ),
        ]
      : [],
  );

/**
 * Two teams with one OIDC group would make a member of both at once: RBAC would bind the group
 * twice and OPA could not tell which team's budget and clearance apply.
 */
export const oidcGroupsUnique: Rule = ({ config }) => {
  const seen = new Map<string, number>();
  const out: ConfigIssue[] = [];
  config.teams.forEach((t, index) => {
    const g = t.oidcGroup.trim();
    if (!g) return;
    const first = seen.get(g);
    if (first !== undefined)
      out.push(
        issue(
          `teams[${index}].oidcGroup`,
          `expected an OIDC group no other team uses, found "${g}" again (first at teams[${first}])`,
        ),
      );
    else seen.set(g, index);
  });
  return out;
};

export const TENANCY_RULES: Rule[] = [oidcGroupNotBlank, oidcGroupsUnique];
