/**
 * Entry point of the bootstrap program (`pulumi up` in bootstrap/): reads its small config and
 * creates the state backend. Its outputs are the `pulumi login` and `--secrets-provider` URLs.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { StateBackend } from "./state-backend";

const cfg = new pulumi.Config();
const region = new pulumi.Config("aws").require("region");
const tags = {
  owner: cfg.require("owner"),
  "cost-center": cfg.require("costCenter"),
  "data-classification": "restricted",
  "sovereign:managed-by": "pulumi",
};
const backend = new StateBackend("state", {
  bucketName: cfg.require("bucketName"),
  region,
  accountId: aws.getCallerIdentityOutput().accountId,
  partition: aws.getPartitionOutput().partition,
  tags,
});

export const stateBucket = backend.bucket.bucket;
export const loginCommand = `pulumi login '${backend.loginUrl}'`;
export const secretsProvider = backend.secretsProviderUrl;
export const stackInitExample = `pulumi stack init <org>/aws-prod --secrets-provider='${backend.secretsProviderUrl}'`;
