#!/usr/bin/env bash
# Builds the Pulumi engine side of the end-to-end run (test/engine), pinned, into the per-user
# tool cache keyed by tool and version, OUTSIDE the clone (a fresh clone reuses it):
#   ${SOVEREIGN_TOOLS_CACHE:-${XDG_CACHE_HOME:-~/.cache}/sovereign/tools}/<tool>@<version>/<tool>
#
#   pulumi                      the Pulumi CLI, from github.com/pulumi/pulumi/pkg/v3 (Go module)
#   pulumi-resource-kubernetes  the kubernetes provider, from
#                               github.com/pulumi/pulumi-kubernetes/provider/v4 (Go module)
#   pulumi-language-yaml        the YAML language host, from github.com/pulumi/pulumi-yaml (Go
#                               module); runs the YAML program against the component package
#                               (`npm run e2e:package`, in the test command).
#
# Both modules carry `replace` directives, which `go install module@version` refuses, so each is
# built through a small wrapper module generated in the cache that repeats those replacements.
# Fails loudly: a tool that cannot be built fails this script, and so the test command.
# Prints nothing on stdout but, with `--print <tool>`, the path of that tool's binary.
#
#   bash scripts/engine-tools.sh                 # build (or reuse) the CLI and the provider
#   bash scripts/engine-tools.sh pulumi          # one tool
#   bash scripts/engine-tools.sh --print pulumi  # path of the cached binary (builds it if missing)
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${SOVEREIGN_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sovereign/tools}"
mkdir -p "$CACHE"

# The Pulumi CLI: the served version of its Go module nearest above the npm @pulumi/pulumi pin
# (3.241.0 is not served; a CLI newer than the SDK is the supported direction).
PULUMI_VERSION=v3.248.0
# The kubernetes provider: the only version of its Go module the registry serves (a pseudo-version
# of January 2026, between the 4.x releases; our npm pin @pulumi/kubernetes is 4.34.2, whose
# module version is not served).
KUBERNETES_PROVIDER_VERSION=v4.0.0-20260115033456-f47bc2d6f199

# The YAML language host: the newest version of its Go module the registry serves. It builds only
# against the pulumi modules its go.mod requires (v3.206.0): against the CLI's v3.248.0 it does not
# compile (the plugin host API changed). Built after the kubernetes provider it reuses most of the
# provider's build cache (measured: 90 CPU-s after the provider's 1,034; docs/component-package.md).
YAML_VERSION=v1.25.0

export CGO_ENABLED=0

die() {
  echo "engine-tools: $*" >&2
  exit 1
}

logged() { # log command...
  local log=$1
  shift
  if ! "$@" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    return 1
  fi
}

# Builds package $pkg of $module@$version through a wrapper module into $CACHE/$name@$version/.
# go_mod_extra: lines appended to the wrapper's go.mod (the module's own replace directives).
build_wrapped() { # name module version pkg go_mod_extra ldflags
  local name=$1 module=$2 version=$3 pkg=$4 extra=$5 ldflags=$6 dir="$CACHE/$1@$3"
  [[ -x "$dir/$name" ]] && return 0
  echo "engine-tools: building $name $version (cache: $dir)" >&2
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp/src"
  local start=$SECONDS t0
  t0=$(cpu_seconds)
  printf 'module sovereign.local/engine-tools/%s\n\ngo 1.25\n\nrequire %s %s\n%s\n' \
    "$name" "$module" "$version" "$extra" >"$dir.tmp/src/go.mod"
  printf 'package tools\n\nimport _ "%s"\n' "$pkg" >"$dir.tmp/src/tools.go"
  (cd "$dir.tmp/src" && GOFLAGS=-mod=mod logged ../tidy.log go mod tidy) ||
    die "resolving $module@$version failed (log above; nothing was cached)"
  (cd "$dir.tmp/src" && logged ../build.log go build -trimpath -ldflags "$ldflags" -o "../$name" "$pkg") ||
    die "building $name $version failed (log above; nothing was cached)"
  [[ -x "$dir.tmp/$name" ]] || die "building $name $version produced no binary"
  printf 'wall_s=%s cpu_s=%s\n' "$((SECONDS - start))" "$(($(cpu_seconds) - t0))" >"$dir.tmp/build-time"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
  echo "engine-tools: built $name $version ($(cat "$dir/build-time"))" >&2
}

# CPU seconds used so far by this shell's finished children (user + system; cutime + cstime of
# /proc/<pid>/stat, in clock ticks). $$ is this shell even inside $(...).
cpu_seconds() {
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%d", ($14 + $15) / hz }' "/proc/$$/stat"
}

pulumi_cli() {
  build_wrapped pulumi github.com/pulumi/pulumi/pkg/v3 "$PULUMI_VERSION" \
    github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
    "require github.com/pulumi/pulumi/sdk/v3 $PULUMI_VERSION
replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e" \
    "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION"
}

yaml_language_host() {
  build_wrapped pulumi-language-yaml github.com/pulumi/pulumi-yaml "$YAML_VERSION" \
    github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml "" \
    "-X github.com/pulumi/pulumi-yaml/pkg/version.Version=$YAML_VERSION"
}

# The kubernetes provider's module ships its schema (schema.json) but not the two files its main
# package embeds, which its release build generates (cmd/pulumi-resource-kubernetes/generate.go):
# schema-embed.json (the schema with the version set) and terraform-mapping-embed.json (the
# mapping, compacted). This makes them the same way from the module's own files, in a writable
# copy of the module, which is then built as the main module (so its go.mod is used as is, less
# the `replace` of its SDK to a sibling directory that a module download does not have: the SDK
# comes from the registry at the version that go.mod requires).
kubernetes_provider() {
  local name=pulumi-resource-kubernetes version=$KUBERNETES_PROVIDER_VERSION
  local module=github.com/pulumi/pulumi-kubernetes/provider/v4 dir="$CACHE/$name@$version"
  [[ -x "$dir/$name" ]] && return 0
  echo "engine-tools: building $name $version (cache: $dir)" >&2
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  local start=$SECONDS t0 src
  t0=$(cpu_seconds)
  src=$(cd "$dir.tmp" && GOFLAGS=-mod=mod go mod download -json "$module@$version" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -n "$src" && -f "$src/cmd/$name/schema.json" ]] || die "$module@$version has no cmd/$name/schema.json"
  cp -r "$src" "$dir.tmp/src" && chmod -R u+w "$dir.tmp/src"
  # The provider reports this version (a semver form of the module's pseudo-version).
  local semver=${version#v}
  (cd "$dir.tmp/src/cmd/$name" && VERSION=$semver node -e '
    const fs = require("fs");
    const schema = JSON.parse(fs.readFileSync("schema.json", "utf8"));
    schema.version = process.env.VERSION;
    fs.writeFileSync("schema-embed.json", JSON.stringify(schema));
    fs.writeFileSync("terraform-mapping-embed.json",
      JSON.stringify(JSON.parse(fs.readFileSync("terraform-mapping.json", "utf8"))));') ||
    die "generating the embedded schema of $name failed"
  sed -i '/^replace github.com\/pulumi\/pulumi-kubernetes\/sdk\/v4 => \.\.\/sdk$/d' "$dir.tmp/src/go.mod"
  (cd "$dir.tmp/src" && GOFLAGS=-mod=mod logged ../tidy.log go mod download) ||
    die "resolving the dependencies of $name failed (log above; nothing was cached)"
  (cd "$dir.tmp/src" && GOFLAGS=-mod=mod logged ../build.log go build -trimpath \
    -ldflags "-X $module/pkg/version.Version=$semver" -o "../$name" "./cmd/$name") ||
    die "building $name $version failed (log above; nothing was cached)"
  [[ -x "$dir.tmp/$name" ]] || die "building $name $version produced no binary"
  rm -rf "$dir.tmp/src"
  printf 'wall_s=%s cpu_s=%s\n' "$((SECONDS - start))" "$(($(cpu_seconds) - t0))" >"$dir.tmp/build-time"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
  echo "engine-tools: built $name $version ($(cat "$dir/build-time"))" >&2
}

print=0
if [[ ${1:-} == --print ]]; then
  print=1
  shift
fi
want=("$@")
[[ ${#want[@]} -gt 0 ]] || want=(pulumi pulumi-resource-kubernetes)

for t in "${want[@]}"; do
  case "$t" in
    pulumi)
      pulumi_cli
      path="$CACHE/pulumi@$PULUMI_VERSION/pulumi"
      ;;
    pulumi-resource-kubernetes)
      kubernetes_provider
      path="$CACHE/pulumi-resource-kubernetes@$KUBERNETES_PROVIDER_VERSION/pulumi-resource-kubernetes"
      ;;
    pulumi-language-yaml)
      yaml_language_host
      path="$CACHE/pulumi-language-yaml@$YAML_VERSION/pulumi-language-yaml"
      ;;
    *) die "unknown tool '$t' (expected pulumi, pulumi-resource-kubernetes, pulumi-language-yaml)" ;;
  esac
  [[ -x $path ]] || die "$t is missing after the build ($path)"
  [[ $print == 1 ]] && echo "$path"
done
exit 0
