"""The app's own origin: the built frontend, its config.json, the local CloudFront, sign-in, and /_local."""

import json
import mimetypes
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from happypath.keys import PUBLISHED_PREFIX  # what the distribution bucket's policy lets CloudFront read
from happypath_local.stack import REGION, Stack

EXECUTIONS_DEFAULT, EXECUTIONS_MAX = 20, 100  # newest first: each costs two Step Functions calls


def security_headers(stack: Stack, *local_origins: str) -> dict[str, str]:
    """The headers the stack's CloudFront adds (WebAppHeaders), but HSTS (this is http), with the local API and
    S3 in connect-src: on AWS they are https: origins, covered by `https:`; here they are http ones."""
    config = stack.resources["WebAppHeaders"]["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    directives = [d.strip() for d in config["ContentSecurityPolicy"]["ContentSecurityPolicy"].split(";")]
    policy = "; ".join(" ".join([d, *local_origins]) if d.startswith("connect-src ") else d for d in directives if d)
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": config["FrameOptions"]["FrameOption"],
        "Referrer-Policy": config["ReferrerPolicy"]["ReferrerPolicy"],
    }


class WebApp:
    def __init__(
        self,
        dist_dir: Path,
        frontend_config: dict[str, Any],
        distribution_bucket: str,
        issuer_app: Any,
        executions: Callable[[int], list[dict[str, Any]]],
        origin: str,
        headers: dict[str, str],
    ) -> None:
        self.dist_dir = dist_dir
        self.headers = headers  # added to every answer but the sign-in pages', as CloudFront adds them
        # The same server under the name "localhost": sign-in and CORS know only the origin, so send it there.
        self.alias = origin.replace("//127.0.0.1:", "//localhost:", 1) if "//127.0.0.1:" in origin else None
        self.origin = origin
        self.frontend_config = frontend_config
        self.distribution_bucket = distribution_bucket
        self.executions = executions
        self.s3 = boto3.client("s3", region_name=REGION)
        self.wsgi = DispatcherMiddleware(self._app, {"/auth": issuer_app})

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if self.alias and request.host_url.rstrip("/") == self.alias:
            location = self.origin + request.full_path.rstrip("?")
            return redirect(location, code=308)(environ, start_response)
        return self.wsgi(environ, start_response)

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        path = request.path
        if path == "/config.json":
            response = _json(self.frontend_config, cache="no-store")
        elif path.startswith("/cdn/"):
            response = self._cdn(request, path.removeprefix("/cdn/"))
        elif path == "/_local/executions":
            limit = request.args.get("limit", EXECUTIONS_DEFAULT, type=int) or EXECUTIONS_DEFAULT
            response = _json({"executions": self.executions(max(1, min(limit, EXECUTIONS_MAX)))}, cache="no-store")
        elif path == "/_local/health":
            response = _json({"status": "ok"}, cache="no-store")
        else:
            response = self._static(path)
        response.headers.update(self.headers)
        return response(environ, start_response)

    def _cdn(self, request: Request, key: str) -> Response:
        """CloudFront in front of the distribution bucket: photos/ only, cached forever, ETag revalidation."""
        if not key.startswith(PUBLISHED_PREFIX) or ".." in key.split("/"):
            return Response("Forbidden", status=403)
        try:
            head = self.s3.head_object(Bucket=self.distribution_bucket, Key=key)
        except ClientError:
            return Response("Not Found", status=404)
        etag = head["ETag"]
        headers = {
            "ETag": etag,
            "Cache-Control": head.get("CacheControl", "public, max-age=86400"),
            "Access-Control-Allow-Origin": "*",
        }
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers=headers)
        body = self.s3.get_object(Bucket=self.distribution_bucket, Key=key)["Body"].read()
        return Response(body, mimetype=head.get("ContentType", "application/octet-stream"), headers=headers)

    def _static(self, path: str) -> Response:
        index = self.dist_dir / "index.html"
        if not index.exists():
            return Response(
                "<h1>Happy Path (local)</h1><p>The frontend is not built yet: run <code>make dev</code>, "
                "which builds it, or <code>cd frontend &amp;&amp; npm run build</code>.</p>",
                status=503,
                mimetype="text/html",
            )
        candidate = (self.dist_dir / path.lstrip("/")).resolve()
        if candidate.is_file() and candidate.is_relative_to(self.dist_dir.resolve()):
            mimetype = mimetypes.guess_type(candidate.name)[0] or "application/octet-stream"
            immutable = "/assets/" in path  # Vite fingerprints these
            cache = "public, max-age=31536000, immutable" if immutable else "no-cache"
            return Response(candidate.read_bytes(), mimetype=mimetype, headers={"Cache-Control": cache})
        if path.startswith("/assets/") or "." in path.rsplit("/", 1)[-1]:
            return Response("Not Found", status=404)  # a missing file, not a client-side route
        # Single-page app: every other path is a client-side route.
        return Response(index.read_bytes(), mimetype="text/html", headers={"Cache-Control": "no-cache"})


def _json(body: Any, cache: str) -> Response:
    return Response(json.dumps(body, default=str), mimetype="application/json", headers={"Cache-Control": cache})
