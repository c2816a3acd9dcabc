"""The web app's config.json, built from a stack's outputs: one builder for a deployed stack
(scripts/web_config.py, scripts/publish_web.py) and for the local runtime, which serves its own.

The map's centre and zoom, the place types and the title come from frontend/public/config.json (the config
the app is developed and tested with) unless the caller overrides them.
"""

import json
from typing import Any
from urllib.parse import quote

from happypath_local import PROJECT_ROOT

DEFAULTS = PROJECT_ROOT / "frontend" / "public" / "config.json"
REQUIRED_OUTPUTS = ("ApiUrl", "AuthIssuer", "AuthClientId", "FrontendOrigin")
# Fine for an app with light traffic; heavier use needs a tile provider (OSM's tile usage policy).
OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTRIBUTION = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'


def defaults() -> dict[str, Any]:
    return dict(json.loads(DEFAULTS.read_text()))


def web_config(
    outputs: dict[str, str],
    base: dict[str, Any] | None = None,
    tile_url: str = OSM_TILES,
    attribution: str | None = None,
) -> dict[str, Any]:
    """config.json for the stack with these outputs (those named in REQUIRED_OUTPUTS, `CognitoHostedUi` where
    sign-out goes through a hosted UI, `AuthAudience` where the sign-in asks for the API's audience); `base`
    gives the rest (default: `defaults()`)."""
    base = base if base is not None else defaults()
    auth: dict[str, str] = {
        "authority": outputs["AuthIssuer"],
        "clientId": outputs["AuthClientId"],
        "scope": base["auth"].get("scope", "openid profile email"),
        "redirectPath": "/callback",  # the template registers <FrontendOrigin>/callback
    }
    if outputs.get("AuthAudience"):  # the API's, when its tokens must be asked for it (Auth0)
        auth["audience"] = outputs["AuthAudience"]
    hosted_ui = outputs.get("CognitoHostedUi")
    if hosted_ui:  # Cognito has no end_session_endpoint: sign out at the hosted UI, back to the app's root
        logout_uri = quote(outputs["FrontendOrigin"] + "/", safe="")
        auth["logoutUrl"] = f"{hosted_ui}/logout?client_id={quote(outputs['AuthClientId'])}&logout_uri={logout_uri}"
    return {
        "apiUrl": outputs["ApiUrl"],
        "auth": auth,
        "map": base["map"] | {"tileUrl": tile_url, "attribution": _attribution(tile_url, attribution)},
        "placeTypes": base["placeTypes"],
        "title": base.get("title", "Happy Path"),
    }


def _attribution(tile_url: str, given: str | None) -> str:
    if given is not None:
        return given
    return OSM_ATTRIBUTION if tile_url == OSM_TILES else ""
