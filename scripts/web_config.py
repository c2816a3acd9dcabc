"""Write the web app's config.json for a deployed stack, from the stack's outputs.

    .venv/bin/python scripts/web_config.py [--stack happy-path] [--region us-east-1] [--out frontend/dist/config.json]

The stack and its region default to those of the last deploy, as samconfig.toml keeps them (`sam deploy
--guided` saves its answers there).

API URL, OIDC issuer, client id and (with Cognito, which has no end_session_endpoint) the hosted UI's logout
URL come from the stack; the map's tiles are OpenStreetMap's unless --tile-url says otherwise (the local
runtime runs without them: no internet needed); the map's centre, the place types and the title come from
frontend/public/config.json (edit the written file to change them). Build the app first (`npm run build`
copies the local config into dist/).
"""

import argparse
import json
import tomllib
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from happypath_local.web_config import OSM_TILES, REQUIRED_OUTPUTS, web_config

ROOT = Path(__file__).resolve().parents[1]
SAMCONFIG = ROOT / "samconfig.toml"
OUTPUT = ROOT / "frontend" / "dist" / "config.json"


def deployed_stack(samconfig: Path = SAMCONFIG) -> tuple[str, str | None]:
    """The stack name and region `sam deploy` used: its own section of samconfig.toml, else the shared one."""
    config = tomllib.loads(samconfig.read_text()).get("default", {}) if samconfig.is_file() else {}
    deploy = config.get("deploy", {}).get("parameters", {})
    shared = config.get("global", {}).get("parameters", {})
    return (
        deploy.get("stack_name") or shared.get("stack_name") or "happy-path",
        deploy.get("region") or shared.get("region"),
    )


def add_stack_arguments(parser: argparse.ArgumentParser, samconfig: Path = SAMCONFIG) -> None:
    stack, region = deployed_stack(samconfig)
    parser.add_argument("--stack", default=stack, help=f"the stack name given to sam deploy (default: {stack})")
    parser.add_argument(
        "--region", default=region, help=f"the stack's region (default: {region or 'your AWS configuration'})"
    )


def stack_outputs(client: Any, stack: str) -> dict[str, str]:
    try:
        (described,) = client.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as error:
        if "does not exist" not in str(error):
            raise
        raise SystemExit(
            f"no stack {stack} in {client.meta.region_name}: deploy it first, or name the stack and region "
            "it was deployed to (--stack, --region)"
        ) from None
    outputs = {item["OutputKey"]: item["OutputValue"] for item in described.get("Outputs", [])}
    missing = [name for name in REQUIRED_OUTPUTS if name not in outputs]
    if missing:
        raise SystemExit(f"stack {stack} has no output {', '.join(missing)}: is it a Happy Path stack, fully deployed?")
    return outputs


def main(argv: list[str] | None = None, client: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_stack_arguments(parser)
    parser.add_argument("--out", type=Path, default=OUTPUT, help=f"where to write (default {OUTPUT.relative_to(ROOT)})")
    parser.add_argument("--tile-url", default=OSM_TILES, help='map tiles, {z}/{x}/{y}; "" for none')
    parser.add_argument("--attribution", help="what the tiles' licence asks to show (OpenStreetMap's is built in)")
    args = parser.parse_args(argv)
    client = client or boto3.client("cloudformation", region_name=args.region)
    config = web_config(stack_outputs(client, args.stack), tile_url=args.tile_url, attribution=args.attribution)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(config, indent=2) + "\n")
    print(f"wrote {args.out}: API {config['apiUrl']}, sign-in {config['auth']['authority']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
