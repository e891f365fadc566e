#!/usr/bin/env bash
# Installs the tools that do not come from npm, pinned, into a per-user cache keyed by tool and
# version, OUTSIDE the clone, so a fresh clone (CI) reuses what an earlier run built:
#   ${SOVEREIGN_TOOLS_CACHE:-${XDG_CACHE_HOME:-~/.cache}/sovereign/tools}/<tool>@<version>/
# .tools/bin/<tool> (git-ignored) is a symlink into that cache; the tests use .tools/bin.
#   OPA, Helm, promtool, amtool, etcd and kwok are built from source with the Go toolchain at
#   pinned versions. kube-apiserver and kube-controller-manager are built from k8s.io/kubernetes
#   through a small wrapper module generated in the cache (it maps every k8s.io/* staging module
#   to the matching v0.x release and stamps the version, so the server reports v1.33.x).
#   PostgreSQL comes from Debian's packages (apt-get) when it is not already present.
#   Third-party Helm charts and operator CRDs whose source ships in a Go module are fetched with
#   `go mod download` at the pinned version and copied into the cache (.tools/charts/ and
#   .tools/crds/ link to them; chart repositories are not reachable from CI).
# Fails loudly: if a tool cannot be built or fetched, this script (and the test command) fails.
#
#   bash scripts/tools.sh                 # the tools the unit tests need (default set)
#   bash scripts/tools.sh e2e             # the default set plus the control plane and CRDs
#   bash scripts/tools.sh kube-apiserver  # one tool
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS="$ROOT/.tools"
BIN="$TOOLS/bin"
CACHE="${SOVEREIGN_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sovereign/tools}"
mkdir -p "$BIN" "$TOOLS/charts" "$TOOLS/crds" "$CACHE"

OPA_VERSION=v1.22.3
HELM_VERSION=v3.22.0
PROMETHEUS_VERSION=v0.316.0 # Go module version of Prometheus (promtool)
ALERTMANAGER_VERSION=v0.34.1
GATEKEEPER_CHART_VERSION=3.23.0 # = TENANCY_CHARTS.gatekeeper.version (a test checks)
CERT_MANAGER_VERSION=v1.21.2   # = CHARTS.certManager.version (a test checks); chart and CRDs
# Kueue's chart ships in its Go module; 0.19.4 (TENANCY_CHARTS.kueue) is not served, so the
# nearest served release's chart is rendered (the same minor; a test checks): docs/e2e.md.
KUEUE_CHART_VERSION=0.19.0
# The control plane of `npm run e2e` (test/e2e). Kubernetes 1.33 = the kind node and our schemas.
KUBERNETES_VERSION=v1.33.13
KUBERNETES_STAGING_VERSION=v0.33.13
ETCD_VERSION=v3.6.17
KWOK_VERSION=v0.7.0
# Operator CRDs, read from the operators' Go modules at the versions the kit pins
# (components/lib/versions.ts). Where the pinned version is not served by the Go module proxy
# the nearest served release is used (docs/e2e.md lists each):
#   KEDA 2.21.1 needs go >= 1.27.4 to download -> v2.21.0; Kueue 0.19.4 -> v0.19.0;
#   Karpenter 1.8.1 -> v1.8.2 (the AWS provider's module ships the karpenter.sh CRDs too).
# Gatekeeper's CRDs come with its chart (rendered and applied by the e2e, from the module source).
# name|module@version|directory in the module (every *.yaml under it that defines a CRD)
CRD_SOURCES=(
  "cloudnative-pg|github.com/cloudnative-pg/cloudnative-pg@v1.30.1|config/crd/bases"
  "keda|github.com/kedacore/keda/v2@v2.21.0|config/crd/bases"
  "prometheus-operator|github.com/prometheus-operator/prometheus-operator@v0.85.0|example/prometheus-operator-crd"
  "kueue|sigs.k8s.io/kueue@v0.19.0|config/components/crd/bases"
  "karpenter|github.com/aws/karpenter-provider-aws@v1.8.2|pkg/apis/crds"
  "cert-manager|github.com/cert-manager/cert-manager@$CERT_MANAGER_VERSION|deploy/crds"
)

export GOFLAGS="${GOFLAGS:-} -trimpath"
export CGO_ENABLED=0

die() {
  echo "tools: $*" >&2
  exit 1
}

# Runs a build step with its output in a log; on failure prints the log's tail and fails.
logged() { # log command...
  local log=$1
  shift
  if ! "$@" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    return 1
  fi
}

# Links .tools/bin/<name> to the cached binary.
link_bin() { # name path
  ln -sfn "$2" "$BIN/$1"
}

# Builds with `go install module@version` into $CACHE/<name>@<version>/ unless already there.
build() { # name module version
  local name=$1 module=$2 version=$3 dir="$CACHE/$1@$3"
  if [[ ! -x "$dir/$name" ]]; then
    echo "tools: building $name $version (cache: $dir)" >&2
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    local start=$SECONDS
    GOBIN="$dir.tmp" logged "$dir.tmp/build.log" go install "$module@$version" ||
      die "building $name $version from $module failed (log above; nothing was cached)"
    [[ -x "$dir.tmp/$name" ]] || die "building $name $version produced no $name binary"
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
    echo "tools: built $name $version in $((SECONDS - start)) s" >&2
  fi
  link_bin "$name" "$dir/$name"
}

# Builds a main package of a dependency through a wrapper module generated in the cache
# (for modules whose own go.mod has replace directives, which `go install m@v` refuses).
# extra: lines appended to the wrapper's go.mod; ldflags: passed to go build.
build_wrapped() { # name module version package extra ldflags
  local name=$1 module=$2 version=$3 pkg=$4 extra=$5 ldflags=$6 dir="$CACHE/$1@$3"
  if [[ ! -x "$dir/$name" ]]; then
    echo "tools: building $name $version through a wrapper module (cache: $dir)" >&2
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp/src"
    local start=$SECONDS
    printf 'module sovereign.local/tools/%s\n\ngo 1.24\n%s\n' "$name" "$extra" >"$dir.tmp/src/go.mod"
    (cd "$dir.tmp/src" && logged ../get.log go get "$pkg@$version") ||
      die "resolving $module $version for $name failed (log above; nothing was cached)"
    (cd "$dir.tmp/src" && logged ../build.log go build -ldflags "$ldflags" -o "../$name" "$pkg") ||
      die "building $name $version failed (log above; nothing was cached)"
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
    echo "tools: built $name $version in $((SECONDS - start)) s" >&2
  fi
  link_bin "$name" "$dir/$name"
}

# The wrapper for kube-apiserver / kube-controller-manager: k8s.io/kubernetes requires its
# staging modules at v0.0.0 and replaces them with ./staging paths, which do not apply to a
# dependency; map each to the published release, and stamp the version.
kubernetes() { # name
  local name=$1 replaces gomod
  if [[ -x "$CACHE/$name@$KUBERNETES_VERSION/$name" ]]; then
    link_bin "$name" "$CACHE/$name@$KUBERNETES_VERSION/$name"
    return 0
  fi
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  [[ -f "$gomod" ]] || die "go mod download k8s.io/kubernetes@$KUBERNETES_VERSION gave no go.mod"
  replaces=$(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1 => \1 '"$KUBERNETES_STAGING_VERSION"'#p' "$gomod")
  [[ -n "$replaces" ]] || die "no staging replace directives found in $gomod"
  local v=${KUBERNETES_VERSION#v} major minor
  major=${v%%.*}
  minor=${v#*.}
  minor=${minor%%.*}
  local ldflags="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitMajor=$major -X $p.gitMinor=$minor"
    ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  build_wrapped "$name" k8s.io/kubernetes "$KUBERNETES_VERSION" "k8s.io/kubernetes/cmd/$name" \
    "$(printf 'replace (\n%s\n)' "$replaces")" "$ldflags"
}

module_dir() { # module@version
  local dir
  dir=$(go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -n "$dir" && -d "$dir" ]] || die "go mod download $1 failed"
  echo "$dir"
}

chart_from_module() { # name version module dir-in-module
  local name=$1 version=$2 module=$3 sub=$4 dest="$CACHE/chart-$1@$2"
  if [[ ! -f "$dest/Chart.yaml" ]]; then
    echo "tools: fetching chart $name $version from $module" >&2
    local dir
    dir=$(module_dir "$module")
    [[ -f "$dir/$sub/Chart.yaml" ]] || die "$module has no $sub/Chart.yaml"
    rm -rf "$dest.tmp" && cp -r "$dir/$sub" "$dest.tmp" && chmod -R u+w "$dest.tmp"
    rm -rf "$dest" && mv "$dest.tmp" "$dest"
  fi
  rm -rf "$TOOLS/charts/$name-$version"
  ln -sfn "$dest" "$TOOLS/charts/$name-$version"
}

# Copies every CustomResourceDefinition manifest under a module directory into the cache.
crds_from_module() { # name module@version sub
  local name=$1 modver=$2 sub=$3 version=${2##*@}
  local dest="$CACHE/crds-$name@$version"
  if [[ ! -f "$dest/.complete" ]]; then
    echo "tools: fetching $name CRDs from $modver" >&2
    local dir n=0
    dir=$(module_dir "$modver")
    [[ -d "$dir/$sub" ]] || die "$modver has no directory $sub"
    rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
    while IFS= read -r f; do
      if grep -q '^kind: CustomResourceDefinition' "$f"; then
        cp "$f" "$dest.tmp/" && n=$((n + 1))
      fi
    done < <(find "$dir/$sub" -name '*.yaml' | sort)
    [[ $n -gt 0 ]] || die "$modver has no CRD manifests under $sub"
    echo "$modver" >"$dest.tmp/.complete"
    chmod -R u+w "$dest.tmp"
    rm -rf "$dest" && mv "$dest.tmp" "$dest"
  fi
  ln -sfn "$dest" "$TOOLS/crds/$name"
}

want=("$@")
[[ ${#want[@]} -gt 0 ]] || want=(default)
expanded=()
for t in "${want[@]}"; do
  case "$t" in
    default) expanded+=(opa helm promtool amtool postgres charts) ;;
    e2e) expanded+=(opa helm promtool amtool postgres charts etcd kube-apiserver kube-controller-manager kube-scheduler kwok crds openssl) ;;
    *) expanded+=("$t") ;;
  esac
done

for t in "${expanded[@]}"; do
  case "$t" in
    opa) build opa github.com/open-policy-agent/opa "$OPA_VERSION" ;;
    helm) build helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" ;;
    promtool) build promtool github.com/prometheus/prometheus/cmd/promtool "$PROMETHEUS_VERSION" ;;
    amtool) build amtool github.com/prometheus/alertmanager/cmd/amtool "$ALERTMANAGER_VERSION" ;;
    etcd) build_wrapped etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" go.etcd.io/etcd/server/v3 "" "-s -w" ;;
    kwok) build kwok sigs.k8s.io/kwok/cmd/kwok "$KWOK_VERSION" ;;
    kube-apiserver | kube-controller-manager | kube-scheduler) kubernetes "$t" ;;
    postgres)
      pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
      if [[ -z "$pgbin" || ! -x "$pgbin/initdb" ]]; then
        echo "tools: installing PostgreSQL from Debian's packages" >&2
        if [[ $(id -u) -ne 0 ]]; then die "need root to apt-get install postgresql"; fi
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
      fi
      for b in initdb pg_ctl postgres psql; do
        if [[ -x "$pgbin/$b" ]]; then ln -sf "$pgbin/$b" "$BIN/$b"; else ln -sf "$(command -v $b)" "$BIN/$b"; fi
      done
      ;;
    charts)
      chart_from_module gatekeeper "$GATEKEEPER_CHART_VERSION" \
        "github.com/open-policy-agent/gatekeeper/v3@v$GATEKEEPER_CHART_VERSION" charts/gatekeeper
      # Its source says version v0.0.0 (the release tool stamps it); rendered by the tests only.
      chart_from_module cert-manager "$CERT_MANAGER_VERSION" \
        "github.com/cert-manager/cert-manager@$CERT_MANAGER_VERSION" deploy/charts/cert-manager
      chart_from_module kueue "$KUEUE_CHART_VERSION" "sigs.k8s.io/kueue@v$KUEUE_CHART_VERSION" charts/kueue
      ;;
    openssl)
      if ! command -v openssl >/dev/null; then
        echo "tools: installing openssl from Debian's packages (the e2e makes its certificates with it)" >&2
        if [[ $(id -u) -ne 0 ]]; then die "need root to apt-get install openssl"; fi
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
      fi
      ;;
    crds)
      for s in "${CRD_SOURCES[@]}"; do
        IFS='|' read -r n m d <<<"$s"
        crds_from_module "$n" "$m" "$d"
      done
      ;;
    *) die "unknown tool '$t' (expected default, e2e, opa, helm, promtool, amtool, postgres, charts, etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, crds, openssl)" ;;
  esac
done

for t in "${expanded[@]}"; do
  [[ $t == charts || $t == crds || $t == openssl ]] && continue
  [[ -x "$BIN/$t" ]] || die "$t is missing after install"
done
echo "tools: ready in $BIN -> $CACHE (${expanded[*]})" >&2
