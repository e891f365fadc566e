/**
 * Image references and registry mirrors (pure, no Pulumi imports).
 *
 * A *registry mirror* maps an upstream registry host to a prefix that serves the same
 * repositories: an ECR pull-through cache (`<account>.dkr.ecr.<region>.amazonaws.com/quay`), a
 * Harbor proxy project (`harbor.corp:8443/proxy-quay`) or a copy made with `crane copy`. Every
 * image the kit runs, its own and those of the third-party charts, goes through `mirrorImage`,
 * so one config setting moves a whole stack onto the customer's registry.
 */

/** A parsed image reference. Docker Hub short names are expanded (`postgres` → `library/postgres`). */
export interface ImageRef {
  /** Registry host, with a port when one is given (`docker.io` when none is named). */
  readonly registry: string;
  /** Repository path inside the registry, without tag or digest. */
  readonly repository: string;
  /** Tag, when one is given. */
  readonly tag?: string;
  /** Digest (`sha256:…`), when one is given. */
  readonly digest?: string;
}

/** A registry host with an optional port (`nvcr.io`, `harbor.corp:8443`, `localhost:5000`). */
export const REGISTRY_HOST = /^(localhost|[a-z0-9-]+(\.[a-z0-9-]+)+)(:[0-9]+)?$/;
/** A mirror prefix: a registry host and an optional path, no scheme, tag or trailing slash. */
export const MIRROR_PREFIX =
  /^(localhost|[a-z0-9-]+(\.[a-z0-9-]+)+)(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/;

/** Upstream registry host → mirror prefix (`host[:port][/path]`). */
export type RegistryMirrors = Readonly<Record<string, string>>;

/** Whether the first path element of a reference names a registry host. */
function isHost(s: string): boolean {
  return s.includes(".") || s.includes(":") || s === "localhost";
}

/** Splits an image reference into registry, repository, tag and digest. */
export function parseImage(ref: string): ImageRef {
  let rest = ref.trim();
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  const slash = rest.indexOf("/");
  const first = slash >= 0 ? rest.slice(0, slash) : "";
  const hasRegistry = slash >= 0 && isHost(first);
  const registry = hasRegistry ? normalizeRegistry(first) : "docker.io";
  let repository = hasRegistry ? rest.slice(slash + 1) : rest;
  let tag: string | undefined;
  const colon = repository.lastIndexOf(":");
  if (colon >= 0 && !repository.slice(colon).includes("/")) {
    tag = repository.slice(colon + 1);
    repository = repository.slice(0, colon);
  }
  if (registry === "docker.io" && !repository.includes("/")) repository = `library/${repository}`;
  return { registry, repository, ...(tag !== undefined ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** The reference of parsed parts (`registry/repository[:tag][@digest]`). */
export function formatImage(ref: ImageRef): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ""}${
    ref.digest ? `@${ref.digest}` : ""
  }`;
}

/** Registry host of an image reference (`docker.io` when none is named). */
export function registryOf(image: string): string {
  return parseImage(image).registry;
}

/** A registry host in lower case, with Docker Hub's aliases folded into `docker.io`. */
export function normalizeRegistry(host: string): string {
  const h = host.toLowerCase().replace(/\/+$/, "");
  return h === "index.docker.io" || h === "registry-1.docker.io" ? "docker.io" : h;
}

/**
 * Registry hosts as admission compares them: each configured host in lower case, and for Docker
 * Hub every name an image may use for it (`docker.io`, `index.docker.io`,
 * `registry-1.docker.io`). The admission Rego compares hosts as written in the image, so the
 * config check (which normalizes) and admission agree.
 */
export function admissionRegistryHosts(allowed: readonly string[]): string[] {
  const hosts = allowed.map(normalizeRegistry);
  const withAliases = hosts.flatMap((h) =>
    h === "docker.io" ? ["docker.io", "index.docker.io", "registry-1.docker.io"] : [h],
  );
  return [...new Set(withAliases)];
}

/**
 * The image as pulled through its registry's mirror, or unchanged when its registry has none.
 * The repository path and tag are kept: `quay.io/prometheus/prometheus:v3` with
 * `{ "quay.io": "123.dkr.ecr.eu-central-1.amazonaws.com/quay" }` becomes
 * `123.dkr.ecr.eu-central-1.amazonaws.com/quay/prometheus/prometheus:v3`.
 */
export function mirrorImage(image: string, mirrors: RegistryMirrors): string {
  const ref = parseImage(image);
  const prefix = mirrorFor(ref.registry, mirrors);
  if (prefix === undefined) return image;
  const slash = prefix.indexOf("/");
  const registry = slash >= 0 ? prefix.slice(0, slash) : prefix;
  const path = slash >= 0 ? `${prefix.slice(slash + 1)}/` : "";
  return formatImage({ ...ref, registry, repository: `${path}${ref.repository}` });
}

/** The mirror prefix for a registry host (keys compared normalized), if any. */
export function mirrorFor(registry: string, mirrors: RegistryMirrors): string | undefined {
  const host = normalizeRegistry(registry);
  for (const [key, prefix] of Object.entries(mirrors)) {
    if (normalizeRegistry(key) === host) return prefix.replace(/\/+$/, "");
  }
  return undefined;
}

/** Whether an image resolves to `latest` (no digest and no tag, or the tag `latest`). */
export function isUnpinned(image: string): boolean {
  const ref = parseImage(image);
  return !ref.digest && (ref.tag === undefined || ref.tag === "latest");
}
