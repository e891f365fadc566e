/** Platform wiring: tenancy. Maps the validated config to typed component args. */
import type { Substrate } from "../../components/substrate";
import type { StackConfig } from "../config/schema";
import type { StackContext } from "./context";

export function wireTenancy(
  _config: StackConfig,
  _ctx: StackContext,
  _substrate: Substrate,
): Record<string, unknown> {
  return {};
}
