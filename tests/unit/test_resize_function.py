"""The resize function's process loads no boto3: with a first client, boto3 takes ~35 MB, more than half of the
64 MB its process may use for a 12 MP photo (bench/README.md, Memory). Run as Lambda runs it, in a fresh
interpreter: tracing on, the handler module imported, a photo resized through S3 (a stand-in answering over the
transport)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, sys

import happypath_workflow.handlers as handlers
from happypath import s3_objects
from happypath_testkit.events import LambdaContext, sample

HEAVY = ("boto3", "botocore.client", "botocore.session", "botocore.config", "botocore.retries.standard")
report = {"after_import": sorted(name for name in HEAVY if name in sys.modules)}
photo = open(sys.argv[1], "rb").read()
written = {}


class Answer:
    def __init__(self, status, body=b""):
        self.status, self.body = status, body

    def getheader(self, name, default=None):
        return str(len(self.body)) if name.lower() == "content-length" else default

    def read(self, amt=None):
        return self.body

    def close(self):
        pass


def s3(method, url, headers, body):
    if method == "GET":
        return Answer(200, photo)
    written[url.split("/", 3)[3]] = headers["content-type"]
    return Answer(200)


s3_objects.transport = s3
result = handlers.resize(sample("workflow_resize"), LambdaContext("ResizeFunction"))
report["result"] = {"accepted": result["accepted"], "width": result["width"]}
report["written"] = written
report["after_resize"] = sorted(name for name in HEAVY if name in sys.modules)
print(json.dumps(report))
"""


def test_the_resize_function_resizes_without_loading_boto3(photos, tmp_path):
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith(("POWERTOOLS_", "AWS_", "MOTO_"))
    } | {
        # What Lambda sets: its Lambda mode for the X-Ray SDK, a trace to add to, credentials and region.
        "LAMBDA_TASK_ROOT": str(ROOT / "workflows" / "functions"),
        "AWS_LAMBDA_FUNCTION_NAME": "ResizeFunction",
        "_X_AMZN_TRACE_ID": "Root=1-67890abc-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=1",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_SESSION_TOKEN": "token",
        "POWERTOOLS_SERVICE_NAME": "resize",
        "POWERTOOLS_METRICS_NAMESPACE": "HappyPath",
        "DISTRIBUTION_BUCKET": "distribution",
        "PYTHONPATH": os.pathsep.join(str(ROOT / path) for path in ("backend/shared", "workflows/functions", "tests")),
    }
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(photos / "42_IndexError.jpg")],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["after_import"] == []
    assert report["after_resize"] == []
    assert report["result"] == {"accepted": True, "width": 600}
    assert sorted(report["written"].values()) == ["image/jpeg", "image/jpeg", "image/webp", "image/webp"]
    assert all(key.startswith("photos/hyde-park/") for key in report["written"])
