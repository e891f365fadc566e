/** Maps the validated config to the in-cluster substrate's typed args. */
import type { StackConfig } from "../config/schema";
import type { StackContext } from "./context";
import type { CreatedSubstrate } from "./substrate";

export function clusterSubstrate(_config: StackConfig, _ctx: StackContext): CreatedSubstrate {
  throw new Error("the cluster substrate is not built yet (issue: in-cluster substrate)");
}
