"""The resize function's process loads no boto3: with a first client, boto3 takes ~35 MB, more than half of the
64 MB its process may use for a 12 MP photo (bench/README.md, Memory). Nor asyncio (1.9 MB, which wrapt 2.x
loads for the X-Ray SDK), nor ElementTree and urllib.request (0.9 MB, loaded by S3 answers that have a body:
a resize's reads and writes have none). Run as Lambda runs it, in a fresh interpreter: tracing on, the handler
module imported, a photo resized through S3 (a stand-in answering over HTTP)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import http.server, json, os, sys, threading

import happypath_workflow.handlers as handlers
from happypath_testkit.events import LambdaContext, sample

HEAVY = (
    "boto3", "botocore.client", "botocore.session", "botocore.config", "botocore.retries.standard",
    "asyncio", "xml.etree.ElementTree", "urllib.request",
)
report = {"after_import": sorted(name for name in HEAVY if name in sys.modules)}
photo = open(sys.argv[1], "rb").read()
written = {}


class S3(http.server.BaseHTTPRequestHandler):  # a stand-in for S3 over HTTP: the upload, and what is written
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.answer(photo)

    def do_PUT(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        written[self.path.split("/", 2)[2]] = self.headers["Content-Type"]
        self.answer(b"")

    def answer(self, body):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), S3)
threading.Thread(target=server.serve_forever, daemon=True).start()
os.environ["AWS_ENDPOINT_URL_S3"] = f"http://127.0.0.1:{server.server_address[1]}"
result = handlers.resize(sample("workflow_resize"), LambdaContext("ResizeFunction"))
report["result"] = {"accepted": result["accepted"], "width": result["width"]}
report["written"] = written
report["after_resize"] = sorted(name for name in HEAVY if name in sys.modules)
print(json.dumps(report))
"""


def test_the_resize_function_resizes_without_loading_what_it_does_not_need(photos, tmp_path):
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
