"""Put the built web app on a deployed stack's CloudFront distribution, with its config.json.

    .venv/bin/python scripts/publish_web.py [--stack happy-path] [--region eu-west-1] [--prune]
                                            [--tile-url URL --attribution TEXT]

`make publish-web` builds the app first. The stack and its region default to those of the last deploy, as
samconfig.toml keeps them. The stack must serve the app itself (deployed with
`FrontendOrigin` empty, the default): its sign-in redirects and CORS then name the distribution. The files
of frontend/dist go to the stack's `WebAppBucket`: Vite's content-hashed `assets/` cached for a year, every
other file (index.html, config.json) revalidated on each load, so a new version shows at the next page load
without invalidating CloudFront's cache. index.html goes last, so it never names an asset not uploaded yet.
Files of earlier versions stay (a page still open may load their chunks) unless `--prune` is given.
"""

import argparse
import json
import mimetypes
from pathlib import Path
from typing import Any

import boto3

from happypath_local.web_config import OSM_TILES, web_config
from web_config import add_stack_arguments, stack_outputs

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "frontend" / "dist"
IMMUTABLE = "public, max-age=31536000, immutable"  # content-hashed file names: a new build, a new name
REVALIDATE = "no-cache"
ENTRY = "index.html"


def cache_control(key: str) -> str:
    return IMMUTABLE if key.startswith("assets/") else REVALIDATE


def content_type(key: str) -> str:
    guessed, _ = mimetypes.guess_type(key)
    return guessed or "application/octet-stream"


def files_in_order(dist: Path) -> list[str]:
    """Every file's key: assets first, index.html last."""
    keys = sorted(path.relative_to(dist).as_posix() for path in dist.rglob("*") if path.is_file())
    return sorted(keys, key=lambda key: (key == ENTRY, not key.startswith("assets/"), key))


def publish(s3: Any, bucket: str, dist: Path, *, prune: bool) -> tuple[list[str], list[str]]:
    """Upload every file of `dist`; return the keys uploaded and the earlier ones deleted (with `prune`)."""
    uploaded = files_in_order(dist)
    for key in uploaded:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=(dist / key).read_bytes(),
            ContentType=content_type(key),
            CacheControl=cache_control(key),
        )
    stale: list[str] = []
    if prune:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            stale += [item["Key"] for item in page.get("Contents", []) if item["Key"] not in uploaded]
        for start in range(0, len(stale), 1000):  # DeleteObjects takes 1,000 keys at a time
            batch = [{"Key": key} for key in stale[start : start + 1000]]
            s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
    return uploaded, stale


def main(argv: list[str] | None = None, cloudformation: Any = None, s3: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_stack_arguments(parser)
    parser.add_argument("--dist", type=Path, default=DIST, help="the built web app (npm run build)")
    parser.add_argument("--prune", action="store_true", help="delete files no longer in the build")
    parser.add_argument("--tile-url", default=OSM_TILES, help='map tiles, {z}/{x}/{y}; "" for none')
    parser.add_argument("--attribution", help="what the tiles' licence asks to show (OpenStreetMap's is built in)")
    args = parser.parse_args(argv)
    if not (args.dist / ENTRY).is_file():
        raise SystemExit(f"no {ENTRY} in {args.dist}: build the web app first (cd frontend && npm run build)")
    cloudformation = cloudformation or boto3.client("cloudformation", region_name=args.region)
    outputs = stack_outputs(cloudformation, args.stack)
    if "WebAppBucketName" not in outputs:
        raise SystemExit(f"stack {args.stack} has no WebAppBucketName output: deploy this version of the template")
    if outputs["FrontendOrigin"] != outputs["DistributionUrl"]:
        raise SystemExit(
            f"stack {args.stack} expects its web app at {outputs['FrontendOrigin']} (FrontendOrigin): sign-in "
            f"and CORS would refuse it at {outputs['DistributionUrl']}. Host frontend/dist there (make web-config "
            "writes its config.json), or deploy with FrontendOrigin empty to have the stack serve it."
        )
    config = web_config(outputs, tile_url=args.tile_url, attribution=args.attribution)
    (args.dist / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    s3 = s3 or boto3.client("s3", region_name=args.region)
    uploaded, deleted = publish(s3, outputs["WebAppBucketName"], args.dist, prune=args.prune)
    print(
        f"published {len(uploaded)} files to {outputs['WebAppBucketName']}"
        + (f", deleted {len(deleted)}" if deleted else "")
    )
    print(f"the app: {outputs['DistributionUrl']}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
