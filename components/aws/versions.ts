/**
 * Pins only the AWS substrate uses: EKS addon versions per Kubernetes minor version and the
 * images the AWS substrate runs itself. (Karpenter's chart stays in `components/lib/versions.ts`
 * next to the other charts, whose images `components/lib/chart-images.ts` lists.)
 */

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

/**
 * Images the AWS substrate itself runs (the one-shot Postgres login job). The Docker official
 * image through ECR Public, so a VPC without egress can pull it through the ECR cache without
 * upstream credentials.
 */
export const AWS_SUBSTRATE_IMAGES = {
  postgresClient: "public.ecr.aws/docker/library/postgres:16.10-alpine",
} as const;
