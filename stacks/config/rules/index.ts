/** Every cross-field rule, run after (and independently of) the schema. */
import { AWS_RULES } from "./aws";
import { CLUSTER_RULES } from "./cluster";
import { CORE_RULES } from "./core";
import { GATEWAY_RULES } from "./gateway";
import type { Rule } from "./helpers";

export type { RawConfig, Rule } from "./helpers";

export const ALL_RULES: readonly Rule[] = [...CORE_RULES, ...AWS_RULES, ...CLUSTER_RULES, ...GATEWAY_RULES];
