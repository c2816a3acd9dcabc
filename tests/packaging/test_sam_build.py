"""`sam build` for this machine's architecture, then import every handler from the build output alone.

The import runs in an isolated interpreter whose path holds only the function's build folder, the layer
(as /opt/python would) and what the Lambda runtime provides (boto3 and its dependencies), so a module or
dependency missing from a CodeUri or from requirements.txt fails here, not in AWS.
"""

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PYTHON313 = Path(sys.base_prefix) / "bin" / "python3.13"
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")

pytestmark = pytest.mark.packaging


def _site_packages() -> Path:
    return Path(next(p for p in sys.path if p.endswith("site-packages")))


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sam = shutil.which("sam", path=str(Path(sys.executable).parent))
    assert sam, "aws-sam-cli is not installed in this environment"
    build = tmp_path_factory.mktemp("sam-build")
    architecture = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
    env = os.environ | {
        "SAM_CLI_TELEMETRY": "0",
        # sam build (no container) wants python3.13 itself first on PATH, not a pyenv shim.
        "PATH": f"{PYTHON313.parent}{os.pathsep}{os.environ['PATH']}",
    }
    subprocess.run(
        [sam, "build", "--build-dir", str(build), "--parameter-overrides", f"Architecture={architecture}"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return build


def _functions(build_dir: Path) -> dict[str, str]:
    template = (build_dir / "template.yaml").read_text()
    resources = yaml.load(template, Loader=yaml.BaseLoader)["Resources"]  # noqa: S506 - tags kept as text
    return {
        name: resource["Properties"]["Handler"]
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


# Imported inside a function, not when the handler loads: checked apart.
LAZY_IMPORTS = {"CheckImageFunction": ["simplejpeg"]}


def test_every_handler_imports_from_the_build_output(build_dir: Path, tmp_path: Path):
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    for name in RUNTIME_PROVIDED:
        (runtime / name).symlink_to(_site_packages() / name)
    layer = build_dir / "SharedLayer" / "python"
    assert (layer / "happypath" / "repository.py").exists()
    functions = _functions(build_dir)
    assert len(functions) == 7
    for logical_id, handler in functions.items():
        module, _, attribute = handler.rpartition(".")
        search_path = [str(build_dir / logical_id), str(layer), str(runtime)]
        code = (
            f"import importlib, sys; sys.path[:0] = {search_path!r}; "
            f"assert callable(getattr(importlib.import_module({module!r}), {attribute!r}))"
            + "".join(f"; importlib.import_module({lazy!r})" for lazy in LAZY_IMPORTS.get(logical_id, []))
        )
        result = subprocess.run(
            [str(PYTHON313), "-I", "-c", code],
            env={"AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"{logical_id} ({handler}) does not import from the build:\n{result.stderr}"


def test_pillow_ships_only_with_the_workflow_functions(build_dir: Path):
    for logical_id in _functions(build_dir):
        has_pillow = (build_dir / logical_id / "PIL").is_dir()
        assert has_pillow == (logical_id not in ("ApiFunction", "NotifierFunction", "SweeperFunction")), logical_id
