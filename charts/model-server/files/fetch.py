"""Copies object-store prefixes to local directories (weights in sync mode, LoRA adapters).

FETCH_PLAN is a JSON list of {"bucket", "prefix", "dest"}. Credentials and the endpoint come
from the pod's workload identity (standard AWS SDK environment); S3_ENDPOINT and
S3_FORCE_PATH_STYLE select an S3-compatible in-cluster store. Never contacts a public hub.
"""
import json
import os
import sys

import boto3
from botocore.config import Config


def main() -> int:
    plan = json.loads(os.environ["FETCH_PLAN"])
    style = "path" if os.environ.get("S3_FORCE_PATH_STYLE") == "true" else "auto"
    s3 = boto3.client(
        "s3",
        endpoint_url=os.environ.get("S3_ENDPOINT") or None,
        config=Config(s3={"addressing_style": style}, retries={"max_attempts": 10, "mode": "adaptive"}),
    )
    for item in plan:
        bucket, prefix, dest = item["bucket"], item["prefix"], item["dest"]
        root = os.path.realpath(dest)
        count = 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                rel = key[len(prefix):].lstrip("/")
                if not rel or key.endswith("/"):
                    continue
                target = os.path.realpath(os.path.join(root, rel))
                if not target.startswith(root + os.sep):
                    print(f"refusing key outside {dest}: {key!r}", file=sys.stderr)
                    return 1
                os.makedirs(os.path.dirname(target), exist_ok=True)
                s3.download_file(bucket, key, target)
                count += 1
        if count == 0:
            print(f"no objects under s3://{bucket}/{prefix}: upload them first", file=sys.stderr)
            return 1
        print(f"fetched {count} objects from s3://{bucket}/{prefix} to {dest}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
