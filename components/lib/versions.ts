/**
 * Every container image and chart version the kit deploys, pinned in one place.
 * Never `latest`. Each can be overridden from the stack config (`images`) for
 * air-gapped mirrors. Components import from here; tests assert no tag is `latest`.
 */
export const IMAGES = {
  vllm: "docker.io/vllm/vllm-openai:v0.11.0",
  vllmCpu: "ghcr.io/llm-d/llm-d-inference-sim:v0.5.1",
  opa: "docker.io/openpolicyagent/opa:1.22.3-static",
  gateway: "ghcr.io/sovereign-ai/gateway:0.1.0",
} as const;

export type ImageKey = keyof typeof IMAGES;

/** The Kubernetes version the kit targets and validates rendered objects against. */
export const KUBERNETES_VERSION = "1.33";

/**
 * AWS substrate pins. EKS addon versions per Kubernetes minor version: an upgrade of
 * `cluster.version` selects the matching row, so addons move with the control plane.
 */
export const EKS_ADDON_VERSIONS: Readonly<Record<string, Readonly<Record<EksAddon, string>>>> = {
  "1.32": {
    "vpc-cni": "v1.20.0-eksbuild.1",
    coredns: "v1.11.4-eksbuild.14",
    "kube-proxy": "v1.32.6-eksbuild.2",
    "aws-ebs-csi-driver": "v1.46.0-eksbuild.1",
    "eks-pod-identity-agent": "v1.3.8-eksbuild.2",
  },
  "1.33": {
    "vpc-cni": "v1.20.3-eksbuild.1",
    coredns: "v1.12.4-eksbuild.1",
    "kube-proxy": "v1.33.3-eksbuild.10",
    "aws-ebs-csi-driver": "v1.50.1-eksbuild.1",
    "eks-pod-identity-agent": "v1.3.8-eksbuild.2",
  },
  "1.34": {
    "vpc-cni": "v1.20.3-eksbuild.1",
    coredns: "v1.12.4-eksbuild.1",
    "kube-proxy": "v1.34.0-eksbuild.4",
    "aws-ebs-csi-driver": "v1.50.1-eksbuild.1",
    "eks-pod-identity-agent": "v1.3.8-eksbuild.2",
  },
};
export type EksAddon = "vpc-cni" | "coredns" | "kube-proxy" | "aws-ebs-csi-driver" | "eks-pod-identity-agent";

/** Karpenter Helm chart (OCI) and the pinned AL2023 AMI release its EC2NodeClasses use. */
export const KARPENTER = {
  chart: "oci://public.ecr.aws/karpenter/karpenter",
  version: "1.8.1",
  /** AL2023; Karpenter picks the NVIDIA variant of this release for GPU instance types. */
  amiAlias: "al2023@v20251103",
} as const;

/**
 * Images the AWS substrate itself runs (the one-shot Postgres login job). The Docker official
 * image through ECR Public, so a VPC without egress can pull it through the ECR cache without
 * upstream credentials.
 */
export const AWS_SUBSTRATE_IMAGES = {
  postgresClient: "public.ecr.aws/docker/library/postgres:16.10-alpine",
} as const;
