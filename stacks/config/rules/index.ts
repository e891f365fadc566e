/** Every cross-field rule, run after (and independently of) the schema. */
import { AWS_RULES } from "./aws";
import { CLUSTER_RULES } from "./cluster";
import { CORE_RULES } from "./core";
import { DEADLINE_RULES } from "./deadlines";
import { FLYWHEEL_RULES } from "./flywheel";
import { GATEWAY_RULES } from "./gateway";
import type { Rule } from "./helpers";
import { IMAGE_RULES } from "./images";
import { OBSERVABILITY_RULES } from "./observability";
import { SERVING_RULES } from "./serving";
import { TENANCY_RULES } from "./tenancy";

export type { RawConfig, Rule } from "./helpers";

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
];
