"""The local runtime: the whole app on one machine, on moto, from the same template.yaml, handlers and ASL.

Never deployed; not inside any CodeUri.
"""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = PROJECT_ROOT / "template.yaml"
