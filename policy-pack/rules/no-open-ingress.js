"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.noOpenIngress = exports.PUBLIC_LISTENER_ANNOTATION = exports.RULE = void 0;
const lib_1 = require("../lib");
exports.RULE = "no-open-ingress";
/** The Kubernetes form of the public-listener marker (annotation). */
exports.PUBLIC_LISTENER_ANNOTATION = "sovereign.ai/public-listener";
const OPEN_V4 = "0.0.0.0/0";
const OPEN_V6 = "::/0";
/** Annotations that make a LoadBalancer Service internal on common clouds. */
const INTERNAL_LB = {
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
    "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
    "networking.gke.io/load-balancer-type": "Internal",
    "service.beta.kubernetes.io/azure-load-balancer-internal": "true",
};
const FIX = "restrict the source to known CIDRs or a security group; a public load balancer needs network.publicLoadBalancer: true " +
    `and the listener rule tagged ${lib_1.PUBLIC_LISTENER_TAG}=true on port 443`;
function listenerExempt(enabled, marked, from, to) {
    return enabled && marked && Number(from) === Number(to) && lib_1.PUBLIC_LISTENER_PORTS.includes(Number(from));
}
exports.noOpenIngress = {
    name: exports.RULE,
    description: "No ingress from 0.0.0.0/0 except an explicitly enabled load-balancer listener.",
    enforcementLevel: "mandatory",
    configSchema: (0, lib_1.configSchema)("publicLoadBalancer"),
    validateResource: (args, reportViolation) => {
        const { publicLoadBalancer } = (0, lib_1.packConfig)(args);
        const p = args.props;
        const where = `${args.type} ${(0, lib_1.quote)(args.name)}`;
        const report = (what) => reportViolation((0, lib_1.violation)(exports.RULE, `${where} ${what}`, FIX));
        if (args.type === "aws:ec2/securityGroup:SecurityGroup") {
            const marked = (0, lib_1.isTrue)(p.tags?.[lib_1.PUBLIC_LISTENER_TAG]);
            for (const r of (p.ingress ?? [])) {
                const open = [...(r.cidrBlocks ?? []), ...(r.ipv6CidrBlocks ?? [])].filter((c) => c === OPEN_V4 || c === OPEN_V6);
                if (open.length > 0 && !listenerExempt(publicLoadBalancer, marked, r.fromPort, r.toPort))
                    report(`admits ${(0, lib_1.quote)(open[0])} on ports ${(0, lib_1.quote)(r.fromPort)}-${(0, lib_1.quote)(r.toPort)}`);
            }
        }
        if (args.type === "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") {
            const open = p.cidrIpv4 === OPEN_V4 ? OPEN_V4 : p.cidrIpv6 === OPEN_V6 ? OPEN_V6 : undefined;
            if (open &&
                !listenerExempt(publicLoadBalancer, (0, lib_1.isTrue)(p.tags?.[lib_1.PUBLIC_LISTENER_TAG]), p.fromPort, p.toPort))
                report(`admits ${(0, lib_1.quote)(open)} on ports ${(0, lib_1.quote)(p.fromPort)}-${(0, lib_1.quote)(p.toPort)}`);
        }
        if (args.type === "aws:ec2/securityGroupRule:SecurityGroupRule" && p.type === "ingress") {
            // This resource has no tags, so it can never carry the listener marker.
            const open = [...(p.cidrBlocks ?? []), ...(p.ipv6CidrBlocks ?? [])].find((c) => c === OPEN_V4 || c === OPEN_V6);
            if (open)
                report(`admits ${(0, lib_1.quote)(open)} on ports ${(0, lib_1.quote)(p.fromPort)}-${(0, lib_1.quote)(p.toPort)}`);
        }
        if (args.type === "kubernetes:core/v1:Service" && p.spec?.type === "LoadBalancer") {
            const annotations = (p.metadata?.annotations ?? {});
            const internal = Object.entries(INTERNAL_LB).some(([k, v]) => String(annotations[k] ?? "").toLowerCase() === v.toLowerCase());
            const ranges = (p.spec.loadBalancerSourceRanges ?? []);
            const open = ranges.length === 0 || ranges.includes(OPEN_V4) || ranges.includes(OPEN_V6);
            const ports = (p.spec.ports ?? []).map((x) => Number(x.port));
            const exempt = publicLoadBalancer &&
                (0, lib_1.isTrue)(annotations[exports.PUBLIC_LISTENER_ANNOTATION]) &&
                ports.every((x) => lib_1.PUBLIC_LISTENER_PORTS.includes(x));
            if (!internal && open && !exempt)
                report(`is an internet-facing load balancer open to ${ranges.length === 0 ? "everyone (no loadBalancerSourceRanges)" : (0, lib_1.quote)(ranges)}`);
        }
    },
};
