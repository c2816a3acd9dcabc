"""Write docs/openapi.json from the Powertools resolver, or with --check fail if the committed one drifted."""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "backend" / "shared"), str(ROOT / "backend" / "functions")]
DOCUMENT = ROOT / "docs" / "openapi.json"


def render() -> str:
    from happypath_backend.openapi import openapi_document

    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/openapi.json is not current")
    args = parser.parse_args()
    current = render()
    if args.check:
        if not DOCUMENT.exists() or DOCUMENT.read_text() != current:
            print(
                f"{DOCUMENT.relative_to(ROOT)} is out of date: run `make openapi` and commit it",
                file=sys.stderr,
            )
            return 1
        print(f"{DOCUMENT.relative_to(ROOT)} is current")
        return 0
    DOCUMENT.write_text(current)
    print(f"wrote {DOCUMENT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
