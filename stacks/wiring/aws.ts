/** Maps the validated config to the AWS substrate's typed args. */
import type { StackConfig } from "../config/schema";
import type { StackContext } from "./context";
import type { CreatedSubstrate } from "./substrate";

export function awsSubstrate(_config: StackConfig, _ctx: StackContext): CreatedSubstrate {
  throw new Error("the aws substrate is not built yet (issue: AWS substrate)");
}
