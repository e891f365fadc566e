/** The Pulumi program: the kubeconfig context comes from `pulumi config set context <name>`. */
import * as pulumi from "@pulumi/pulumi";
import { build } from "./index";

const out = build({ context: new pulumi.Config().require("context") });
export const modelUrls = out.modelUrls;
export const objectStoreEndpoint = out.objectStoreEndpoint;
