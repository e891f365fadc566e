"""Runs the REAL quantize job (sovereign_train.cli `quantize`) on a tiny random Llama against an
in-process S3 (moto) and prints the published config.json on stdout. Used by the vitest seam
test (test/flywheel/quantize-seam.test.ts), which renders the model-server chart for the same
model and checks that vLLM would accept the flags. Usage: python tests/quantize_tiny.py fp8|awq
"""

import contextlib
import io
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(scheme: str) -> int:
    from conftest import ENDPOINT, job_environ
    from moto import mock_aws
    from test_ml_tiny import BASE, CHATS, _tiny_model

    from sovereign_train.cli import main as job
    from sovereign_train.s3 import client_from_env, parse_s3_uri, sync_up

    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        MOTO_S3_CUSTOM_ENDPOINTS=ENDPOINT,
        HF_HUB_OFFLINE="1",
    )
    tmp = tempfile.mkdtemp(prefix="quantize-tiny-")
    with mock_aws():
        c = client_from_env({"AWS_ENDPOINT_URL_S3": ENDPOINT, "AWS_REGION": "us-east-1", "S3_FORCE_PATH_STYLE": "true"})
        for b in ("acme-models", "acme-datasets", "acme-checkpoints"):
            c.create_bucket(Bucket=b)
        _tiny_model(os.path.join(tmp, "tiny"))
        sync_up(c, os.path.join(tmp, "tiny"), parse_s3_uri(BASE))
        body = "".join(json.dumps(x) + "\n" for x in CHATS).encode()
        c.put_object(Bucket="acme-datasets", Key="teams/research/support/train.jsonl", Body=body)
        out = f"s3://acme-models/teams/research/tiny-{scheme}/"
        env = job_environ(
            tmp,
            HOME=os.path.join(tmp, "pod"),
            MODEL_URI=BASE,
            SOVEREIGN_JOB_KIND="quantize",
            SOVEREIGN_JOB_NAME=f"tiny-{scheme}",
            OUTPUT_URI=out,
        )
        if scheme == "fp8":
            env.pop("DATASET_URI")
        argv = ["quantize", f"--scheme={scheme}", "--calibration-samples=8", "--max-seq-length=64"]
        with contextlib.redirect_stdout(io.StringIO()):
            rc = job(argv, env)
        if rc != 0:
            return rc
        u = parse_s3_uri(out + "config.json")
        sys.stdout.write(c.get_object(Bucket=u.bucket, Key=u.key)["Body"].read().decode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
