"""Write the web app's config.json for a deployed stack, from the stack's outputs.

    .venv/bin/python scripts/web_config.py --stack happy-path [--region us-east-1] [--out frontend/dist/config.json]

API URL, OIDC issuer, client id and (with Cognito, which has no end_session_endpoint) the hosted UI's logout
URL come from the stack; the map's tiles are OpenStreetMap's unless --tile-url says otherwise (the local
runtime runs without them: no internet needed); the map's centre, the place types and the title come from
frontend/public/config.json (edit the written file to change them). Build the app first (`npm run build`
copies the local config into dist/).
"""

import argparse
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = ROOT / "frontend" / "public" / "config.json"
OUTPUT = ROOT / "frontend" / "dist" / "config.json"
REQUIRED_OUTPUTS = ("ApiUrl", "AuthIssuer", "AuthClientId", "FrontendOrigin")
# Fine for an app with light traffic; heavier use needs a tile provider (OSM's tile usage policy).
OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTRIBUTION = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'


def stack_outputs(client: Any, stack: str) -> dict[str, str]:
    (described,) = client.describe_stacks(StackName=stack)["Stacks"]
    outputs = {item["OutputKey"]: item["OutputValue"] for item in described.get("Outputs", [])}
    missing = [name for name in REQUIRED_OUTPUTS if name not in outputs]
    if missing:
        raise SystemExit(f"stack {stack} has no output {', '.join(missing)}: is it a Happy Path stack, fully deployed?")
    return outputs


def web_config(
    outputs: dict[str, str], defaults: dict[str, Any], tile_url: str = OSM_TILES, attribution: str | None = None
) -> dict[str, Any]:
    auth: dict[str, str] = {
        "authority": outputs["AuthIssuer"],
        "clientId": outputs["AuthClientId"],
        "scope": defaults["auth"].get("scope", "openid profile email"),
        "redirectPath": "/callback",  # the template registers <FrontendOrigin>/callback
    }
    hosted_ui = outputs.get("CognitoHostedUi")
    if hosted_ui:  # back to the app's root, the sign-out URL the template registers
        logout_uri = quote(outputs["FrontendOrigin"] + "/", safe="")
        auth["logoutUrl"] = f"{hosted_ui}/logout?client_id={quote(outputs['AuthClientId'])}&logout_uri={logout_uri}"
    return {
        "apiUrl": outputs["ApiUrl"],
        "auth": auth,
        "map": defaults["map"] | {"tileUrl": tile_url, "attribution": _attribution(tile_url, attribution)},
        "placeTypes": defaults["placeTypes"],
        "title": defaults.get("title", "Happy Path"),
    }


def _attribution(tile_url: str, given: str | None) -> str:
    if given is not None:
        return given
    return OSM_ATTRIBUTION if tile_url == OSM_TILES else ""


def main(argv: list[str] | None = None, client: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", default="happy-path", help="the stack name given to sam deploy")
    parser.add_argument("--region", help="the stack's region (default: your AWS configuration's)")
    parser.add_argument("--out", type=Path, default=OUTPUT, help=f"where to write (default {OUTPUT.relative_to(ROOT)})")
    parser.add_argument("--tile-url", default=OSM_TILES, help='map tiles, {z}/{x}/{y}; "" for none')
    parser.add_argument("--attribution", help="what the tiles' licence asks to show (OpenStreetMap's is built in)")
    args = parser.parse_args(argv)
    client = client or boto3.client("cloudformation", region_name=args.region)
    defaults = json.loads(DEFAULTS.read_text())
    config = web_config(stack_outputs(client, args.stack), defaults, args.tile_url, args.attribution)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(config, indent=2) + "\n")
    print(f"wrote {args.out}: API {config['apiUrl']}, sign-in {config['auth']['authority']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
