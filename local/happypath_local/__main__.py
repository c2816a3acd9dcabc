"""Command line of the local runtime: serve, seed, upload, executions, token."""

import argparse
import os
import sys
from pathlib import Path

from happypath_local import DEFAULT_APP_URL, DEFAULT_PORT, PROJECT_ROOT

# Real places to start with: parks, and restaurants, cafes and bars for workflow v4's rules by place type.
DEMO_PLACES = [
    {"name": "Hyde Park", "type": "park", "lat": 51.5073, "lng": -0.1657, "address": "London W2 2UH"},
    {"name": "Regent's Park", "type": "park", "lat": 51.5313, "lng": -0.1570, "address": "London NW1 4NR"},
    {"name": "St James's Park", "type": "park", "lat": 51.5025, "lng": -0.1348, "address": "London SW1A 2BJ"},
    {"name": "Green Park", "type": "park", "lat": 51.5046, "lng": -0.1428, "address": "London SW1A 1BW"},
    {"name": "Kensington Gardens", "type": "park", "lat": 51.5067, "lng": -0.1795, "address": "London W2 2UH"},
    {"name": "Holland Park", "type": "park", "lat": 51.5031, "lng": -0.2039, "address": "Ilchester Pl, London W8 6LU"},
    {
        "name": "Dishoom Covent Garden",
        "type": "restaurant",
        "lat": 51.5124,
        "lng": -0.1269,
        "address": "12 Upper St Martin's Ln",
    },
    {"name": "Rules", "type": "restaurant", "lat": 51.5106, "lng": -0.1229, "address": "34-35 Maiden Ln, London"},
    {"name": "Monmouth Coffee", "type": "cafe", "lat": 51.5143, "lng": -0.1267, "address": "27 Monmouth St, London"},
    {"name": "Lamb & Flag", "type": "bar", "lat": 51.5118, "lng": -0.1255, "address": "33 Rose St, London"},
]


def _parameter(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, not {text!r}")
    return name, value


def _app_port(text: str) -> int:
    """The app's port: the API and the S3 endpoint take the two after it, which must be ports too."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, not {text!r}") from None
    if not 1 <= port <= 65533:
        raise argparse.ArgumentTypeError(
            f"{port} is not a port for the app: 1 to 65533 (the API and S3 take the next two)"
        )
    return port


def _serve(args: argparse.Namespace) -> int:
    from happypath_local.server import Options, serve

    return serve(
        Options(
            host=args.host,
            port=args.port,
            data_dir=Path(args.data_dir),
            fresh=args.fresh,
            persist=not args.no_persist,
            workflow_version=args.workflow,
            place_types=args.place_types.split(",") if args.place_types else None,
            extra_origins=args.origin,
            moderation=args.moderation,
            throttle=not args.no_throttle,
            stop_wait_s=args.stop_wait,
            parameters=dict(args.parameter),
        )
    )


def _client(args: argparse.Namespace):
    from happypath_local.client import LocalClient

    client = LocalClient(args.app)
    client.sign_in(args.user)
    return client


def _seed(args: argparse.Namespace) -> int:
    from happypath_local.client import ApiError

    client = _client(args)
    for place in DEMO_PLACES:
        try:
            created = client.call("POST", "/places", json=place)
        except ApiError as error:  # 409: a place of its type and name is already there (seeded before, say)
            namesake = error.body.get("namesake") if error.status == 409 and isinstance(error.body, dict) else None
            if namesake is None:
                raise
            print(f"  exists   {place['name']:<24} {place['type']:<10} {namesake['place']['placeId']}")
            continue
        print(f"  created  {created['name']:<24} {created['type']:<10} {created['placeId']}")
    return 0


def _upload(args: argparse.Namespace) -> int:
    client = _client(args)
    failures = 0
    for photo in map(Path, args.files):

        def progress(sent: int, total: int, name: str = photo.name) -> None:
            filled = int(30 * sent / total)
            print(f"\r  {name:<32} [{'#' * filled}{'.' * (30 - filled)}] {100 * sent // total:3d}%", end="", flush=True)

        try:
            upload_id = client.upload(args.place, photo, progress)
        except Exception as error:
            print(f"\r  {photo.name:<32} refused: {error}")
            failures += 1
            continue
        if args.no_wait:
            print(f"  uploaded ({upload_id})")
            continue
        verdict = client.wait(upload_id)
        reason = f" {verdict['reason']}: {verdict.get('reasonDetail') or ''}" if verdict["reason"] else ""
        print(f"  {verdict['status']}{reason}")
        failures += verdict["status"] != "PROCESSED"
    return 1 if failures else 0


def _executions(args: argparse.Namespace) -> int:
    from happypath_local.client import NotTheApp, app_json

    answer = app_json(f"{args.app.rstrip('/')}/_local/executions", params={"limit": args.limit})
    if not isinstance(answer, dict) or not isinstance(answer.get("executions"), list):
        raise NotTheApp(args.app)
    executions = answer["executions"]
    for execution in executions:
        print(f"{execution['startDate'][:19]}  {execution['status']:<9}  upload {execution['uploadId']}")
        print(f"    {' > '.join(execution['states'])}")
    if not executions:
        print("no workflow executions yet")
    return 0


def _token(args: argparse.Namespace) -> int:
    print(_client(args).token)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m happypath_local", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="start the whole app on localhost")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_app_port, default=DEFAULT_PORT, help="app port; the API uses port+1, S3 port+2")
    serve.add_argument("--data-dir", default=str(PROJECT_ROOT / ".local-data"))
    serve.add_argument(
        "--fresh", action="store_true", help="start with no data (deletes the snapshots kept in the data folder)"
    )
    serve.add_argument("--no-persist", action="store_true", help="keep nothing after Ctrl-C")
    serve.add_argument("--workflow", help="the template's WorkflowVersion (v1-v4; default: the template's default)")
    serve.add_argument(
        "--place-types", help="what the web app offers, e.g. restaurant,cafe,bar (default: frontend's config.json)"
    )
    serve.add_argument("--origin", action="append", default=[], help="another web origin to allow (e.g. Vite's)")
    serve.add_argument("--moderation", default="auto", choices=["auto", "offline", "pass-through"])
    serve.add_argument(
        "--no-throttle",
        action="store_true",
        help="lift the template's stage throttle (50 requests/s, burst 100), e.g. to measure capacity",
    )
    serve.add_argument(
        "--parameter",
        action="append",
        default=[],
        type=_parameter,
        metavar="NAME=VALUE",
        help="a template parameter, as sam deploy's --parameter-overrides (e.g. DailyUploadsPerUser=1000)",
    )
    serve.add_argument(
        "--stop-wait",
        type=float,
        default=30,
        metavar="SECONDS",
        help="how long Ctrl-C waits for uploads being processed before saving (unfinished ones restart next time)",
    )
    serve.set_defaults(run=_serve)

    for name, run, helptext in (
        ("seed", _seed, "create demo parks and restaurants"),
        ("upload", _upload, "upload photos to a place, with progress, and wait for the verdict"),
        ("executions", _executions, "list recent workflow executions and the states they went through"),
        ("token", _token, "print an access token for curl"),
    ):
        command = commands.add_parser(name, help=helptext)
        command.add_argument("--app", default=DEFAULT_APP_URL, help="the local app's URL (serve's --port moves it)")
        command.add_argument("--user", default="demo@happypath.local")
        command.set_defaults(run=run)
        if name == "upload":
            command.add_argument("--place", required=True, help="place id")
            command.add_argument("--no-wait", action="store_true")
            command.add_argument("files", nargs="+")
        if name == "executions":
            command.add_argument("--limit", type=int, default=20)
    args = parser.parse_args(argv)
    if args.command == "serve":
        return int(args.run(args))
    import requests

    from happypath_local.client import NotTheApp

    try:
        return int(args.run(args))
    except requests.ConnectionError:
        print(f"no local app at {args.app}: start it with `make dev`, or pass --app", file=sys.stderr)
        return 1
    except NotTheApp:
        # A malformed URL, or another server (the API's or the S3 port, say): its answers are not the app's.
        print(
            f"{args.app} is not the local app: pass the App URL `make dev` printed (e.g. {DEFAULT_APP_URL})",
            file=sys.stderr,
        )
        return 1
    except BrokenPipeError:
        # The reader stopped (`... executions | head`): stop quietly. Output still buffered goes nowhere,
        # or flushing it at exit would fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
