/**
 * Pulls metric names out of PromQL (and Grafana query) expressions, so tests can check every
 * name a dashboard or alert uses against the lists in `components/lib/metrics.ts`.
 */
const KEYWORDS = new Set(["and", "or", "unless", "bool", "offset", "inf", "nan", "atan2", "by", "without"]);

export function metricNames(expr: string): string[] {
  let s = expr;
  // Grafana's label_values(<metric or selector>, <label>): keep the metric only
  s = s.replace(/label_values\(\s*([^,()]+?)\s*,\s*[A-Za-z_][A-Za-z0-9_]*\s*\)/g, " $1 ");
  s = s.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, " "); // string literals
  s = s.replace(/\{[^}]*\}/g, " "); // label matchers (and the $variables in them)
  s = s.replace(/\[[^\]]*\]/g, " "); // ranges and subqueries
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " "); // label lists
  s = s.replace(/\$\{?[A-Za-z_][A-Za-z0-9_]*\}?/g, " "); // Grafana variables elsewhere
  const names = new Set<string>();
  for (const m of s.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const before = m.index > 0 ? s[m.index - 1] : " ";
    if (/[0-9.]/.test(before)) continue; // exponent or unit of a number (1e-9, 5m)
    const after = s.slice(m.index + m[0].length).trimStart();
    if (after.startsWith("(")) continue; // a function or aggregation
    if (KEYWORDS.has(m[0].toLowerCase())) continue;
    names.add(m[0]);
  }
  return [...names].sort();
}

/** Substitutes Grafana's variables so an expression can go through promtool. */
export function withoutGrafanaVariables(expr: string): string {
  return expr
    .replace(/\$__rate_interval|\$__interval|\$__range/g, "5m")
    .replace(/\$\{?[A-Za-z_][A-Za-z0-9_]*\}?/g, ".*");
}

interface Panel {
  readonly title?: string;
  readonly targets?: readonly { readonly expr?: string }[];
  readonly panels?: readonly Panel[];
}

export interface DashboardJson {
  readonly uid?: string;
  readonly title?: string;
  readonly panels?: readonly Panel[];
  readonly templating?: {
    readonly list?: readonly { readonly query?: unknown; readonly definition?: string }[];
  };
}

/** Every PromQL expression of a dashboard's panels (nested rows too). */
export function panelExpressions(d: DashboardJson): { panel: string; expr: string }[] {
  const walk = (ps: readonly Panel[] = []): { panel: string; expr: string }[] =>
    ps.flatMap((p) => [
      ...(p.targets ?? []).flatMap((t) => (t.expr ? [{ panel: p.title ?? "?", expr: t.expr }] : [])),
      ...walk(p.panels),
    ]);
  return walk(d.panels);
}

/** Every template-variable query of a dashboard. */
export function variableQueries(d: DashboardJson): string[] {
  return (d.templating?.list ?? []).flatMap((v) => {
    const q = v.query;
    const text = typeof q === "string" ? q : (q as { query?: string } | undefined)?.query;
    return text ? [text] : [];
  });
}
