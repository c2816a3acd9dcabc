"""The local runtime: the whole app on one machine, on moto, from the same template.yaml, handlers and ASL.

Never deployed; not inside any CodeUri.
"""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = PROJECT_ROOT / "template.yaml"

DEFAULT_PORT = 8080  # the app's; the API is on the next port, the S3 endpoint on the one after
DEFAULT_APP_URL = f"http://127.0.0.1:{DEFAULT_PORT}"  # where the other commands look for the app (--app)
