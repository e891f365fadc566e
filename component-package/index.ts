/**
 * The component package's entry point (package.json `main`): the facades Pulumi's component
 * provider serves. See docs/component-package.md.
 */
export { AwsPlatform, ClusterPlatform } from "./platform";
export type { AwsPlatformArgs, ClusterPlatformArgs } from "./platform";
