/**
 * allowed-images: containers run images only from the allowed registries, pinned by tag or
 * digest, never `latest` (an untagged image means `latest`). Helm releases are checked too:
 * every image their values set must come from an allowed registry (the kit sets every image of
 * a third-party chart explicitly, so the chart cannot fall back to its public default).
 */
import {
  chartValueImages,
  containersOf,
  normalizeRegistry,
  packConfig,
  parseImage,
  quote,
  resourceRule,
  violation,
  workloadOf,
} from "../lib";

export const RULE = "allowed-images";
const HELM_RELEASE = "kubernetes:helm.sh/v3:Release";

export const allowedImages = resourceRule({
  name: RULE,
  description: "Images come from allowed registries and are pinned (never latest).",
  configKeys: ["allowedRegistries"],
  appliesTo: (type, props) => type === HELM_RELEASE || workloadOf(type, props) !== undefined,
  check: (args, reportViolation) => {
    const allowed = packConfig(args).allowedRegistries.map(normalizeRegistry);
    if (args.type === HELM_RELEASE) {
      for (const i of chartValueImages(args.props.values ?? {}))
        if (!allowed.includes(normalizeRegistry(i.registry)))
          reportViolation(
            violation(
              RULE,
              `Helm release ${quote(args.name)} (chart ${quote(args.props.chart)}) sets ${i.path} to ${quote(i.ref)}, from registry ${quote(i.registry)}, not in ${quote(allowed)}`,
              "set registryMirrors for that registry (the kit rewrites every chart image), or allow it in policy.allowedRegistries",
            ),
          );
      return;
    }
    const w = workloadOf(args.type, args.props);
    if (!w) return;
    for (const c of containersOf(w.podSpec)) {
      const where = `${w.kind} ${quote(args.name)} container ${quote(c.name)}`;
      if (typeof c.image !== "string" || c.image === "") {
        reportViolation(violation(RULE, `${where} names no image`, "set a pinned image"));
        continue;
      }
      const ref = parseImage(c.image);
      if (!allowed.includes(normalizeRegistry(ref.registry)))
        reportViolation(
          violation(
            RULE,
            `${where} pulls ${quote(c.image)} from registry ${quote(ref.registry)}, not in ${quote(allowed)}`,
            "mirror the image into an allowed registry (policy.allowedRegistries) and reference it there",
          ),
        );
      if (ref.digest !== undefined && !/^sha256:[a-f0-9]{64}$/.test(ref.digest))
        reportViolation(
          violation(
            RULE,
            `${where} uses ${quote(c.image)}, whose digest ${quote(ref.digest)} is not sha256:<64 hex digits>`,
            "pin the full @sha256 digest of the image",
          ),
        );
      else if (!ref.digest && (ref.tag === undefined || ref.tag === "" || ref.tag === "latest"))
        reportViolation(
          violation(
            RULE,
            `${where} uses ${quote(c.image)}, which resolves to latest`,
            "pin a version tag or a @sha256 digest (components/lib/versions.ts)",
          ),
        );
    }
  },
});
