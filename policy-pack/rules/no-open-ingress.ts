/**
 * no-open-ingress: no security group admits 0.0.0.0/0 or ::/0, and no Kubernetes LoadBalancer
 * Service is open to the world, except the one load-balancer listener the stack explicitly
 * enabled (config publicLoadBalancer, resource marked public-listener, ports 443/80 only).
 */
import {
  type Props,
  PUBLIC_LISTENER_PORTS,
  PUBLIC_LISTENER_TAG,
  isTrue,
  packConfig,
  quote,
  resourceRule,
  violation,
} from "../lib";

export const RULE = "no-open-ingress";

/** The Kubernetes form of the public-listener marker (annotation). */
export const PUBLIC_LISTENER_ANNOTATION = "sovereign.ai/public-listener";

const OPEN_V4 = "0.0.0.0/0";
const OPEN_V6 = "::/0";

/** Annotations that make a LoadBalancer Service internal on common clouds. */
const INTERNAL_LB: Record<string, string> = {
  "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
  "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
  "networking.gke.io/load-balancer-type": "Internal",
  "service.beta.kubernetes.io/azure-load-balancer-internal": "true",
};

const FIX =
  "restrict the source to known CIDRs or a security group; a public load balancer needs network.publicLoadBalancer: true " +
  `and the listener rule tagged ${PUBLIC_LISTENER_TAG}=true on port 443`;

function listenerExempt(enabled: boolean, marked: boolean, from: unknown, to: unknown): boolean {
  return enabled && marked && Number(from) === Number(to) && PUBLIC_LISTENER_PORTS.includes(Number(from));
}

const SG_TYPES = [
  "aws:ec2/securityGroup:SecurityGroup",
  "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
  "aws:ec2/securityGroupRule:SecurityGroupRule",
];

export const noOpenIngress = resourceRule({
  name: RULE,
  description: "No ingress from 0.0.0.0/0 except an explicitly enabled load-balancer listener.",
  configKeys: ["publicLoadBalancer"],
  appliesTo: (type, p) =>
    SG_TYPES.includes(type) || (type === "kubernetes:core/v1:Service" && p.spec?.type === "LoadBalancer"),
  check: (args, reportViolation) => {
    const { publicLoadBalancer } = packConfig(args);
    const p = args.props as Props;
    const where = `${args.type} ${quote(args.name)}`;
    const report = (what: string) => reportViolation(violation(RULE, `${where} ${what}`, FIX));

    if (args.type === "aws:ec2/securityGroup:SecurityGroup") {
      const marked = isTrue(p.tags?.[PUBLIC_LISTENER_TAG]);
      for (const r of (p.ingress ?? []) as Props[]) {
        const open = [...(r.cidrBlocks ?? []), ...(r.ipv6CidrBlocks ?? [])].filter(
          (c: string) => c === OPEN_V4 || c === OPEN_V6,
        );
        if (open.length > 0 && !listenerExempt(publicLoadBalancer, marked, r.fromPort, r.toPort))
          report(`admits ${quote(open[0])} on ports ${quote(r.fromPort)}-${quote(r.toPort)}`);
      }
    }
    if (args.type === "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") {
      const open = p.cidrIpv4 === OPEN_V4 ? OPEN_V4 : p.cidrIpv6 === OPEN_V6 ? OPEN_V6 : undefined;
      if (
        open &&
        !listenerExempt(publicLoadBalancer, isTrue(p.tags?.[PUBLIC_LISTENER_TAG]), p.fromPort, p.toPort)
      )
        report(`admits ${quote(open)} on ports ${quote(p.fromPort)}-${quote(p.toPort)}`);
    }
    if (args.type === "aws:ec2/securityGroupRule:SecurityGroupRule" && p.type === "ingress") {
      // This resource has no tags, so it can never carry the listener marker.
      const open = [...(p.cidrBlocks ?? []), ...(p.ipv6CidrBlocks ?? [])].find(
        (c: string) => c === OPEN_V4 || c === OPEN_V6,
      );
      if (open) report(`admits ${quote(open)} on ports ${quote(p.fromPort)}-${quote(p.toPort)}`);
    }
    if (args.type === "kubernetes:core/v1:Service" && p.spec?.type === "LoadBalancer") {
      const annotations = (p.metadata?.annotations ?? {}) as Record<string, string>;
      const internal = Object.entries(INTERNAL_LB).some(
        ([k, v]) => String(annotations[k] ?? "").toLowerCase() === v.toLowerCase(),
      );
      const ranges = (p.spec.loadBalancerSourceRanges ?? []) as string[];
      const open = ranges.length === 0 || ranges.includes(OPEN_V4) || ranges.includes(OPEN_V6);
      const ports = ((p.spec.ports ?? []) as Props[]).map((x) => Number(x.port));
      const exempt =
        publicLoadBalancer &&
        isTrue(annotations[PUBLIC_LISTENER_ANNOTATION]) &&
        ports.every((x) => PUBLIC_LISTENER_PORTS.includes(x));
      if (!internal && open && !exempt)
        report(
          `is an internet-facing load balancer open to ${ranges.length === 0 ? "everyone (no loadBalancerSourceRanges)" : quote(ranges)}`,
        );
    }
  },
});
