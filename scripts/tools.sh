#!/usr/bin/env bash
# Installs the tools that do not come from npm, pinned, into .tools/ (git-ignored).
#   OPA, Helm, promtool and amtool are built from source with `go install` at pinned versions.
#   PostgreSQL comes from Debian's packages (apt-get) when it is not already present.
#   Third-party Helm charts whose source ships in a Go module are fetched with
#   `go mod download` at the pinned version and copied into .tools/charts/ (rendered offline
#   by the tests; chart repositories are not reachable from CI).
# Fails loudly: if a tool cannot be installed, the test command fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS="$ROOT/.tools"
BIN="$TOOLS/bin"
mkdir -p "$BIN"

OPA_VERSION=v1.22.3
HELM_VERSION=v3.22.0
PROMETHEUS_VERSION=v0.316.0 # Go module version of Prometheus (promtool)
ALERTMANAGER_VERSION=v0.34.1
GATEKEEPER_CHART_VERSION=3.23.0 # = TENANCY_CHARTS.gatekeeper.version (a test checks)

export GOFLAGS="${GOFLAGS:-} -trimpath"
export CGO_ENABLED=0

build() { # name module version
  local name=$1 module=$2 version=$3 stamp="$BIN/.$1.version"
  if [[ -x "$BIN/$name" && -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then
    return 0
  fi
  echo "tools: building $name $version" >&2
  GOBIN="$BIN" go install "$module@$version"
  echo "$version" >"$stamp"
}

chart_from_module() { # name version module dir-in-module
  local name=$1 version=$2 module=$3 sub=$4 dest="$TOOLS/charts/$1-$2"
  [[ -f "$dest/Chart.yaml" ]] && return 0
  echo "tools: fetching chart $name $version from $module" >&2
  local dir
  dir=$(go mod download -json "$module" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -n "$dir" && -f "$dir/$sub/Chart.yaml" ]] || { echo "tools: $module has no $sub/Chart.yaml" >&2; exit 1; }
  rm -rf "$dest.tmp" && mkdir -p "$TOOLS/charts" && cp -r "$dir/$sub" "$dest.tmp" && chmod -R u+w "$dest.tmp"
  mv "$dest.tmp" "$dest"
}

want=("$@")
[[ ${#want[@]} -gt 0 ]] || want=(opa helm promtool amtool postgres charts)

for t in "${want[@]}"; do
  case "$t" in
    opa) build opa github.com/open-policy-agent/opa "$OPA_VERSION" ;;
    helm) build helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" ;;
    promtool) build promtool github.com/prometheus/prometheus/cmd/promtool "$PROMETHEUS_VERSION" ;;
    amtool) build amtool github.com/prometheus/alertmanager/cmd/amtool "$ALERTMANAGER_VERSION" ;;
    postgres)
      pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
      if [[ -z "$pgbin" || ! -x "$pgbin/initdb" ]]; then
        echo "tools: installing PostgreSQL from Debian's packages" >&2
        if [[ $(id -u) -ne 0 ]]; then echo "tools: need root to apt-get install postgresql" >&2; exit 1; fi
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
      ;;
    *) echo "tools: unknown tool '$t' (expected opa, helm, promtool, amtool, postgres, charts)" >&2; exit 2 ;;
  esac
done

for t in "${want[@]}"; do
  [[ $t == charts ]] && continue
  [[ -x "$BIN/$t" ]] || { echo "tools: $t is missing after install" >&2; exit 1; }
done
echo "tools: ready in $BIN (${want[*]})" >&2
