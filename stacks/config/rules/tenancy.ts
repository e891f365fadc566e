/** Rules of the tenancy area: each team's OIDC group and Kubernetes group name exactly one team. */
import { teamGroupName } from "../../../components/platform/tenancy-plan";
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

/** Where a team's Kubernetes group comes from: its own key, else its OIDC group. */
function groupPath(t: { kubernetesGroup?: string }, index: number): string {
  return `teams[${index}].${t.kubernetesGroup === undefined ? "oidcGroup" : "kubernetesGroup"}`;
}

/**
 * The team's Kubernetes group is bound to its Role and is what admission knows as a team
 * member. A `system:` group is the API server's own (`system:authenticated` is every signed-in
 * user, `system:serviceaccounts` every pod): bound, the team's rights would go to all of them,
 * and admission would take every such caller for a team member.
 */
export const kubernetesGroupNotReserved: Rule = ({ config }) =>
  config.teams.flatMap((t, index) => {
    const g = teamGroupName(t);
    if (!g.trim()) return t.kubernetesGroup === undefined ? [] : [blank(index, g)];
    if (g.trim() !== g)
      return [
        issue(
          groupPath(t, index),
          `expected a Kubernetes group without leading or trailing spaces, found ${JSON.stringify(g)}`,
        ),
      ];
    return g.startsWith("system:")
      ? [
          issue(
            groupPath(t, index),
            `expected a team's own Kubernetes group, found the API server's reserved group ${JSON.stringify(g)} (system: groups hold every user or service account of a kind)` +
              (t.kubernetesGroup === undefined
                ? "; set teams[].kubernetesGroup if the cluster names the team's group differently"
                : ""),
          ),
        ]
      : [];
  });

function blank(index: number, g: string): ConfigIssue {
  return issue(
    `teams[${index}].kubernetesGroup`,
    `expected a non-empty Kubernetes group, found ${JSON.stringify(g)}`,
  );
}

/**
 * Two teams with one Kubernetes group: each team's members would get the other's namespace
 * rights through the RoleBindings, whatever their OIDC groups say.
 */
export const kubernetesGroupsUnique: Rule = ({ config }) => {
  const seen = new Map<string, number>();
  const out: ConfigIssue[] = [];
  config.teams.forEach((t, index) => {
    const g = teamGroupName(t).trim();
    if (!g) return;
    const first = seen.get(g);
    if (first !== undefined) {
      // Same OIDC group and no kubernetesGroup on either: oidcGroupsUnique reports it already.
      if (t.kubernetesGroup !== undefined || config.teams[first].kubernetesGroup !== undefined)
        out.push(
          issue(
            groupPath(t, index),
            `expected a Kubernetes group no other team has, found "${g}" again (the Kubernetes group of teams[${first}])`,
          ),
        );
    } else seen.set(g, index);
  });
  return out;
};

export const TENANCY_RULES: Rule[] = [
  oidcGroupNotBlank,
  oidcGroupsUnique,
  kubernetesGroupNotReserved,
  kubernetesGroupsUnique,
];
