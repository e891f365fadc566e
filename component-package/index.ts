/**
 * The component package's entry point (package.json `main`): the components Pulumi's component
 * provider serves. See docs/component-package.md.
 */
export { AwsPlatform, ClusterPlatform } from "./platform";
export type { AwsPlatformArgs, ClusterPlatformArgs } from "./platform";
export { ClusterSubstrate, Flywheel, Gateway, Serving, Tenancy } from "./components";
export type { ClusterPartArgs, FlywheelArgs, GatewayArgs, SubstrateHandle } from "./components";
export { Observability, Policy } from "./policy-parts";
export type { FlywheelIdentity, PolicyArgs } from "./policy-parts";
export {
  AwsFlywheel,
  AwsGateway,
  AwsObservability,
  AwsPolicy,
  AwsServing,
  AwsSubstrate,
  AwsTenancy,
} from "./aws-parts";
export type {
  AwsFlywheelArgs,
  AwsGatewayArgs,
  AwsPartArgs,
  AwsPolicyArgs,
  AwsSubstrateHandle,
} from "./aws-parts";
