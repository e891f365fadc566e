/**
 * Pins only the AWS substrate uses: EKS addon versions per Kubernetes minor version, the
 * Karpenter chart, its AMI release and its images, and the images the AWS substrate runs itself.
 * The pins both substrates use are in `components/lib/versions.ts`.
 */
import type { ChartImage } from "../lib/chart-images";

/** Karpenter Helm chart (OCI) and the pinned AL2023 AMI release its EC2NodeClasses use. */
export const KARPENTER = {
  chart: "oci://public.ecr.aws/karpenter/karpenter",
  version: "1.8.1",
  /** AL2023; Karpenter picks the NVIDIA variant of this release for GPU instance types. */
  amiAlias: "al2023@v20251103",
} as const;

/**
 * The images Karpenter's chart deploys, in the shape of `CHART_IMAGES` (the chart's release
 * digest is kept; a mirror must copy byte for byte).
 */
export const KARPENTER_IMAGES: readonly ChartImage[] = [
  {
    role: "controller",
    image: `public.ecr.aws/karpenter/controller:${KARPENTER.version}`,
    path: ["controller", "image"],
    fields: { repository: "repository", tag: "tag" },
  },
];

/**
 * AWS substrate pins. EKS addon versions per Kubernetes minor version: an upgrade of
 * `eks.version` selects the matching row, so addons move with the control plane.
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

/**
 * Images the AWS substrate itself runs (the one-shot Postgres login job). The Docker official
 * image through ECR Public, so a VPC without egress can pull it through the ECR cache without
 * upstream credentials.
 */
export const AWS_SUBSTRATE_IMAGES = {
  postgresClient: "public.ecr.aws/docker/library/postgres:16.10-alpine",
} as const;
