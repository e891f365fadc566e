"""Keeps this replica's flywheel adapter versions in step with the registry (docs/flywheel.md).

A sidecar of the model server. For every flywheel adapter of this base model (LORA_SYNC_PLAN)
it reads the adapter's desired-state object `<prefix>serving.json` in the models bucket, which
the flywheel controller rewrites at each transition (candidate, canary, promotion, rollback):

  {"schema": 1, "adapter": "...", "baseModel": "...",
   "versions": [{"version": "...", "phase": "promoted|canary|candidate",
                 "key": "<prefix><version>/adapter/", "contentSha256": "<64 hex>"}]}

and makes the local vLLM match it:

  - a listed version's objects are copied to FLYWHEEL_LORA_ROOT/<adapter>/<version> (into a
    temporary folder first; its content hash must equal the registered one, else nothing is
    kept), then loaded: POST /v1/load_lora_adapter {"lora_name": "<adapter>--<version>",
    "lora_path": FLYWHEEL_LORA_ROOT/<adapter>/<version>} (vLLM needs
    VLLM_ALLOW_RUNTIME_LORA_UPDATING=True and --enable-lora; the chart sets both);
  - a loaded `<adapter>--<version>` that is no longer listed is unloaded
    (POST /v1/unload_lora_adapter) and its folder removed.

So a replica that starts later loads the promoted (and canary) versions by itself. Only the
plan's adapters are touched (never the statically configured ones), only keys under the plan's
prefix are read, and an adapter whose state cannot be read keeps what it has. A version whose
objects add up to more than LORA_SYNC_MAX_VERSION_MIB (the chart's flywheel.maxVersionSizeMiB)
is refused by name, before its download (listed sizes) or during it (bytes read), so the
adapters' emptyDir never fills up.

Readiness never waits for a flywheel version: LORA_SYNC_READY_FILE (the readiness probe) is
written after the first pass that reached the local server, whether or not every listed version
could be fetched, verified and loaded. A malformed serving.json, a version whose hash does not
match, one over the size cap or one the server refuses is logged, skipped and retried: a load at
the next pass, a download after a backoff (LORA_SYNC_INTERVAL_SECONDS doubling per failure up to
BACKOFF_CAP_SECONDS, anew when serving.json names another key or hash for it); the base model
serves meanwhile, and the gateway sends a version's requests only to replicas that list it
(gateway/src/flywheel/lora.ts), so a replica without it gets none of them.
Credentials come from the pod's workload identity (standard AWS SDK environment); S3_ENDPOINT
and S3_FORCE_PATH_STYLE select an S3-compatible in-cluster store, as in fetch.py. One JSON line
per event on stdout. Never contacts a public hub. VLLM_API_KEY, the server's own API key (the
chart's Secret), goes with every call to the server; it is never logged. The server is called
over HTTPS on 127.0.0.1 (VLLM_URL); its certificate must chain to VLLM_CA_FILE (the CA in the
server's own Secret) and name VLLM_TLS_SERVER_NAME (its Service), or nothing is sent.
"""

import hashlib
import http.client
import json
import os
import re
import shutil
import ssl
import sys
import time
import urllib.error
import urllib.request

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
SHA = re.compile(r"^[0-9a-f]{64}$")
STATE_OBJECT = "serving.json"
# The longest wait before a version whose download failed is tried again (seconds).
BACKOFF_CAP_SECONDS = 300


class PlanError(Exception):
    pass


def log(event, **fields):
    print(json.dumps({"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "event": event, **fields}), flush=True)


def served_name(adapter, version):
    """The name a version is served under (gateway/src/flywheel/split.ts `servedName`)."""
    return f"{adapter}--{version}"


def parse_plan(raw):
    """LORA_SYNC_PLAN: {"bucket", "baseModel", "adapters": [{"team", "adapter", "prefix"}]}."""
    try:
        plan = json.loads(raw)
    except ValueError as e:
        raise PlanError(f"LORA_SYNC_PLAN: expected JSON ({e})")
    if not isinstance(plan, dict) or not isinstance(plan.get("bucket"), str) or not plan["bucket"]:
        raise PlanError("LORA_SYNC_PLAN.bucket: expected the models bucket's name")
    if not isinstance(plan.get("baseModel"), str) or not plan["baseModel"]:
        raise PlanError("LORA_SYNC_PLAN.baseModel: expected the served base model's name")
    adapters = plan.get("adapters")
    if not isinstance(adapters, list) or not adapters:
        raise PlanError("LORA_SYNC_PLAN.adapters: expected a non-empty list")
    for i, a in enumerate(adapters):
        at = f"LORA_SYNC_PLAN.adapters[{i}]"
        if not isinstance(a, dict) or not NAME.match(str(a.get("adapter", ""))):
            raise PlanError(f"{at}.adapter: expected an adapter name, found {a!r}")
        prefix = a.get("prefix")
        if not isinstance(prefix, str) or not prefix.endswith("/") or prefix.startswith("/") or ".." in prefix:
            raise PlanError(f"{at}.prefix: expected a key prefix ending in '/', found {prefix!r}")
    return plan


def desired_versions(state, entry, base_model):
    """The checked versions of one adapter's serving.json: {served name: (version, key, sha)}."""
    adapter, prefix = entry["adapter"], entry["prefix"]
    if not isinstance(state, dict) or state.get("adapter") != adapter:
        raise PlanError(
            f"{prefix}{STATE_OBJECT}: expected adapter {adapter!r}, found {state.get('adapter') if isinstance(state, dict) else state!r}"
        )
    if state.get("baseModel") != base_model:
        raise PlanError(f"{prefix}{STATE_OBJECT}: expected baseModel {base_model!r}, found {state.get('baseModel')!r}")
    out = {}
    for i, v in enumerate(state.get("versions") or []):
        at = f"{prefix}{STATE_OBJECT}: versions[{i}]"
        version, key, sha = (v or {}).get("version"), (v or {}).get("key"), (v or {}).get("contentSha256")
        # no "--" in a version: "<adapter>--<version>" then splits at its last "--" only
        if not isinstance(version, str) or not NAME.match(version) or "--" in version:
            raise PlanError(f"{at}.version: expected a version id without '--', found {version!r}")
        if not isinstance(key, str) or not key.startswith(prefix) or not key.endswith("/") or ".." in key:
            raise PlanError(f"{at}.key: expected a folder under {prefix}, found {key!r}")
        if not isinstance(sha, str) or not SHA.match(sha):
            raise PlanError(f"{at}.contentSha256: expected 64 hex digits, found {sha!r}")
        out[served_name(adapter, version)] = (version, key, sha)
    return out


def https_opener(ca_file="", server_name=""):
    """A urllib opener for the local server's HTTPS: the certificate must chain to `ca_file` (the
    CA in the server's own Secret; "" = the system's CAs) and name `server_name` (the Service's
    name; the sidecar connects to 127.0.0.1, which the certificate does not name). Verification
    is never turned off."""
    ctx = ssl.create_default_context(cafile=ca_file or None)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED

    class Connection(http.client.HTTPSConnection):
        def connect(self):
            http.client.HTTPConnection.connect(self)
            self.sock = self._context.wrap_socket(self.sock, server_hostname=server_name or self.host)

    class Handler(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(Connection, req, context=ctx)

    return urllib.request.build_opener(Handler())


class Vllm:
    """The local server's runtime LoRA endpoints; `api_key` (VLLM_API_KEY, the server's own key)
    goes with every call as `Authorization: Bearer`, which the server requires on these paths.
    An https `url` is verified with `ca_file` and `server_name` (https_opener)."""

    def __init__(self, url, timeout=30, api_key="", ca_file="", server_name=""):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.api_key = api_key
        self._open = https_opener(ca_file, server_name).open if self.url.startswith("https:") else urllib.request.urlopen

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("content-type", "application/json")
        if self.api_key:
            req.add_header("authorization", f"Bearer {self.api_key}")
        try:
            with self._open(req, timeout=self.timeout) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")

    def adapters(self):
        status, text = self._call("GET", "/v1/models")
        if status != 200:
            raise RuntimeError(f"GET /v1/models answered {status}: {text[:200]}")
        return {m["id"] for m in json.loads(text).get("data", []) if m.get("parent")}

    def load(self, name, path):
        return self._call("POST", "/v1/load_lora_adapter", {"lora_name": name, "lora_path": path})

    def unload(self, name):
        return self._call("POST", "/v1/unload_lora_adapter", {"lora_name": name})


class TooLarge(RuntimeError):
    pass


def too_large(bucket, key, size, max_bytes):
    return TooLarge(
        f"s3://{bucket}/{key} holds {size} bytes or more, over the cap of {max_bytes} bytes "
        f"(LORA_SYNC_MAX_VERSION_MIB, the chart's flywheel.maxVersionSizeMiB): not fetched"
    )


def fetch_version(s3, bucket, key, sha, dest, max_bytes=None):
    """Copies the objects under `key` to `dest` (via a temporary folder) if their content hash,
    SHA-256 over "<relative key> <sha256>\\n" sorted by key (the loop's content_sha256), is `sha`.
    Refuses a version over `max_bytes` (when set): before downloading from the listed sizes, and
    while downloading from the bytes read (a listing can be stale)."""
    tmp = dest + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    root = os.path.realpath(tmp)
    lines = []
    keys = []
    listed = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
        for obj in page.get("Contents", []):
            rel = obj["Key"][len(key) :]
            if rel and not rel.endswith("/"):
                keys.append(rel)
                listed += int(obj.get("Size") or 0)
    if not keys:
        raise RuntimeError(f"no objects under s3://{bucket}/{key}")
    if max_bytes is not None and listed > max_bytes:
        raise too_large(bucket, key, listed, max_bytes)
    read = 0
    for rel in sorted(keys):
        target = os.path.realpath(os.path.join(root, rel))
        if not target.startswith(root + os.sep):
            raise RuntimeError(f"refusing key outside the version's folder: {key + rel!r}")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        h = hashlib.sha256()
        body = s3.get_object(Bucket=bucket, Key=key + rel)["Body"]
        with open(target, "wb") as f:
            while chunk := body.read(1 << 20):
                read += len(chunk)
                if max_bytes is not None and read > max_bytes:
                    f.close()
                    shutil.rmtree(tmp, ignore_errors=True)
                    raise too_large(bucket, key, read, max_bytes)
                h.update(chunk)
                f.write(chunk)
        lines.append(f"{rel} {h.hexdigest()}\n")
    got = hashlib.sha256("".join(lines).encode()).hexdigest()
    if got != sha:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"content hash of s3://{bucket}/{key} is {got}, the registry's is {sha}: not loaded")
    shutil.rmtree(dest, ignore_errors=True)
    os.rename(tmp, dest)


def read_state(s3, bucket, entry):
    """The adapter's serving.json, {} when none exists yet; raises when it cannot be read."""
    from botocore.exceptions import ClientError

    key = entry["prefix"] + STATE_OBJECT
    absent = {"adapter": entry["adapter"], "versions": [], "absent": True}
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code")
        if code in ("NoSuchKey", "404"):
            return absent
        # S3 answers NoSuchKey for a missing key only to a caller allowed s3:ListBucket on the
        # bucket, else AccessDenied; the kit allows it only under an s3:prefix condition, which a
        # GetObject request does not carry. A listing of the key itself (allowed by that
        # condition) tells a missing object from a denied one.
        if code in ("AccessDenied", "403"):
            listed = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents", [])
            if not any(o.get("Key") == key for o in listed):
                return absent
        raise
    try:
        return json.loads(body)
    except ValueError as e:
        raise PlanError(f"{entry['prefix']}{STATE_OBJECT}: expected JSON ({e})")


COMPLETE, PARTIAL, UNREACHABLE = "complete", "partial", "unreachable"


class Backoff:
    """When a version whose download failed (its hash, the size cap, the store) is tried again:
    `base` seconds after the first failure, doubling with each further one up to `cap`. Per
    served name and per (key, contentSha256): when serving.json names a new key or hash for the
    version, it is tried at once. A version that fetched is forgotten."""

    def __init__(self, base, cap):
        self.base, self.cap = base, cap
        self.state = {}  # served name -> (identity, failures, not before)

    def due(self, name, identity, now):
        st = self.state.get(name)
        return st is None or st[0] != identity or now >= st[2]

    def failed(self, name, identity, now):
        st = self.state.get(name)
        failures = st[1] + 1 if st is not None and st[0] == identity else 1
        # the exponent stops at 32 (far past any cap): 2 ** 1024 is no float
        delay = min(self.cap, self.base * 2 ** min(failures - 1, 32))
        self.state[name] = (identity, failures, now + delay)
        return delay

    def forget(self, keep):
        for name in [n for n in self.state if n not in keep]:
            del self.state[name]


def sync_once(s3, vllm, plan, root, max_bytes=None, backoff=None, now=0.0):
    """One pass. Returns COMPLETE when every listed version is loaded on this replica, PARTIAL when
    the server was reached and every version was tried but some state or version failed (logged,
    retried next pass, or, with `backoff`, once its delay is over), UNREACHABLE when the local
    server did not answer (nothing was loaded)."""
    bucket, base = plan["bucket"], plan["baseModel"]
    desired = {}
    known = set()  # adapters whose desired state was read (only those are unloaded)
    complete = True
    for entry in plan["adapters"]:
        try:
            state = read_state(s3, bucket, entry)
            if state.get("absent"):
                versions = {}
            else:
                versions = desired_versions(state, entry, base)
        except Exception as e:  # noqa: BLE001 - any failure: keep what is loaded, say why
            log("state_unreadable", adapter=entry["adapter"], error=str(e)[:500])
            complete = False
            continue
        known.add(entry["adapter"])
        for name, (version, key, sha) in versions.items():
            desired[name] = (entry["adapter"], version, key, sha)
    if backoff is not None:
        # only adapters whose state was read: one that could not be read keeps its delays
        backoff.forget(set(desired) | {n for n in backoff.state if n.rpartition("--")[0] not in known})
    for name, (adapter, version, key, sha) in sorted(desired.items()):
        dest = os.path.join(root, adapter, version)
        if os.path.isdir(dest):
            continue
        if backoff is not None and not backoff.due(name, (key, sha), now):
            complete = False
            continue
        try:
            os.makedirs(os.path.join(root, adapter), exist_ok=True)
            fetch_version(s3, bucket, key, sha, dest, max_bytes)
            log("fetched", adapter=adapter, version=version, path=dest)
        except Exception as e:  # noqa: BLE001 - any failure: retried later, said why
            retry = {} if backoff is None else {"retry_in_seconds": backoff.failed(name, (key, sha), now)}
            log("fetch_failed", adapter=adapter, version=version, error=str(e)[:500], **retry)
            complete = False
    try:
        loaded = vllm.adapters()
    except Exception as e:  # noqa: BLE001 - the server is starting or gone: retried next pass
        log("server_unreachable", error=str(e)[:300])
        return UNREACHABLE
    for name, (adapter, version, _key, _sha) in sorted(desired.items()):
        path = os.path.join(root, adapter, version)
        if name in loaded or not os.path.isdir(path):
            continue
        status, text = vllm.load(name, path)
        if status == 200 or (status == 400 and "already been loaded" in text):
            log("loaded", name=name, path=path)
        else:
            log("load_failed", name=name, path=path, status=status, error=text[:500])
            complete = False
    mine = {e["adapter"] for e in plan["adapters"] if e["adapter"] in known}
    for name in sorted(loaded):
        adapter, sep, version = name.rpartition("--")
        # only what this sidecar loaded, from its folder under root: never a statically configured
        # adapter whose name merely starts with "<adapter>--", nor another adapter's version, nor
        # a name that another caller of the runtime endpoints loaded
        if (
            not sep
            or adapter not in mine
            or name in desired
            or not NAME.match(version)  # a folder name, never a path out of the root
            or not os.path.isdir(os.path.join(root, adapter, version))
        ):
            continue
        status, text = vllm.unload(name)
        if status in (200, 404):
            log("unloaded", name=name)
            shutil.rmtree(os.path.join(root, adapter, version), ignore_errors=True)
        else:
            log("unload_failed", name=name, status=status, error=text[:500])
    # folders of versions no longer listed (never loaded, or unloaded earlier)
    for adapter in mine:
        d = os.path.join(root, adapter)
        for version in os.listdir(d) if os.path.isdir(d) else []:
            if served_name(adapter, version) not in desired and served_name(adapter, version) not in loaded:
                shutil.rmtree(os.path.join(d, version), ignore_errors=True)
    return COMPLETE if complete and all(n in vllm.adapters() for n in desired) else PARTIAL


def main():
    try:
        plan = parse_plan(os.environ.get("LORA_SYNC_PLAN", ""))
    except PlanError as e:
        print(str(e), file=sys.stderr)
        return 2
    import boto3
    from botocore.config import Config

    root = os.environ.get("FLYWHEEL_LORA_ROOT") or ""
    if not root.startswith("/"):
        print(f"FLYWHEEL_LORA_ROOT: expected an absolute path, found {root!r}", file=sys.stderr)
        return 2
    interval = float(os.environ.get("LORA_SYNC_INTERVAL_SECONDS") or "15")
    cap = os.environ.get("LORA_SYNC_MAX_VERSION_MIB") or ""
    if not cap.isdigit() or int(cap) < 1:
        print(f"LORA_SYNC_MAX_VERSION_MIB: expected a whole number of MiB >= 1, found {cap!r}", file=sys.stderr)
        return 2
    max_bytes = int(cap) << 20
    ready_file = os.environ.get("LORA_SYNC_READY_FILE") or ""
    style = "path" if os.environ.get("S3_FORCE_PATH_STYLE") == "true" else "auto"
    s3 = boto3.client(
        "s3",
        endpoint_url=os.environ.get("S3_ENDPOINT") or None,
        config=Config(s3={"addressing_style": style}, retries={"max_attempts": 5, "mode": "adaptive"}),
    )
    vllm = Vllm(
        os.environ.get("VLLM_URL") or "https://127.0.0.1:8000",
        api_key=os.environ.get("VLLM_API_KEY") or "",
        ca_file=os.environ.get("VLLM_CA_FILE") or "",
        server_name=os.environ.get("VLLM_TLS_SERVER_NAME") or "",
    )
    log("started", adapters=[a["adapter"] for a in plan["adapters"]], root=root, interval=interval, max_bytes=max_bytes)
    run(s3, vllm, plan, root, max_bytes, interval, ready_file)


def run(s3, vllm, plan, root, max_bytes, interval, ready_file, clock=time.monotonic, sleep=time.sleep, passes=None):
    """The sidecar's loop: a pass every `interval` seconds (forever, or `passes` times). A version
    whose download failed waits out its backoff (`interval` doubling up to BACKOFF_CAP_SECONDS)
    instead of being downloaded again at every pass on every replica."""
    backoff = Backoff(interval, max(interval, BACKOFF_CAP_SECONDS))
    n = 0
    while passes is None or n < passes:
        n += 1
        try:
            # Ready once a pass reached the server, loaded or not: a flywheel version never holds
            # back a replica of the shared base model (what failed is retried later).
            status = sync_once(s3, vllm, plan, root, max_bytes, backoff, clock())
            if status != UNREACHABLE and ready_file and not os.path.exists(ready_file):
                os.makedirs(os.path.dirname(ready_file) or ".", exist_ok=True)
                open(ready_file, "w").close()
                log("ready", complete=status == COMPLETE)
        except Exception as e:  # noqa: BLE001 - never die: the next pass retries
            log("sync_failed", error=str(e)[:500])
        sleep(interval)


if __name__ == "__main__":
    sys.exit(main())
