"""Creates the tiny random Llama of test_ml_tiny.py (tokenizer trained here, no download) and
uploads it to an S3 URI with the object store named by the environment (AWS_ENDPOINT_URL_S3,
keys, S3_FORCE_PATH_STYLE). Used by the flywheel's end-to-end test (test/flywheel/loop.test.ts)
as the base model the loop fine-tunes. Usage: python tests/tiny_base_model.py s3://bucket/prefix/
"""

import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(uri: str) -> int:
    from test_ml_tiny import _tiny_model

    from sovereign_train.s3 import client_from_env, parse_s3_uri, sync_up

    tmp = tempfile.mkdtemp(prefix="tiny-base-")
    try:
        _tiny_model(os.path.join(tmp, "tiny"))
        sync_up(client_from_env(), os.path.join(tmp, "tiny"), parse_s3_uri(uri))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(uri)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
