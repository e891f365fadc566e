/** Every cross-field rule, run on the parsed config and its resolved settings once the schema passes. */
import { AWS_RULES } from "./aws";
import { CAPACITY_RULES } from "./capacity";
import { CATALOG_RULES } from "./catalog";
import { CLUSTER_RULES } from "./cluster";
import { CORE_RULES } from "./core";
import { DEADLINE_RULES } from "./deadlines";
import { FLYWHEEL_RULES } from "./flywheel";
import { GATEWAY_RULES } from "./gateway";
import { IDENTITY_RULES } from "./identity";
import type { Rule } from "./helpers";
import { IMAGE_RULES } from "./images";
import { NAME_RULES } from "./names";
import { OBSERVABILITY_RULES } from "./observability";
import { SERVING_RULES } from "./serving";
import { TENANCY_RULES } from "./tenancy";

export type { Rule, RuleInput } from "./helpers";

export const ALL_RULES: readonly Rule[] = [
  ...CORE_RULES,
  ...AWS_RULES,
  ...CLUSTER_RULES,
  ...SERVING_RULES,
  ...TENANCY_RULES,
  ...OBSERVABILITY_RULES,
  ...GATEWAY_RULES,
  ...IMAGE_RULES,
  ...DEADLINE_RULES,
  ...FLYWHEEL_RULES,
  ...CATALOG_RULES,
  ...NAME_RULES,
  ...CAPACITY_RULES,
  ...IDENTITY_RULES,
];
