"""`sam build` for this machine's architecture, then import every handler from the build output alone.

The import runs in an isolated interpreter whose path holds only the function's build folder, the layer
(as /opt/python would) and what the Lambda runtime provides (boto3 and its dependencies), so a module or
dependency missing from a CodeUri or from requirements.txt fails here, not in AWS.
"""

import json
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


DEPLOYED_ARCHITECTURE = "arm64"


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make build` (sam build, then the bundles' bytecode), for this machine's architecture.

    The stack runs on arm64; on another machine the same template is built for the machine's architecture
    (a copy beside template.yaml, so its code paths resolve alike), or its native wheels would not import here.
    """
    make = shutil.which("make")
    assert make, "make is not installed"
    build = tmp_path_factory.mktemp("sam-build")
    architecture = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
    template = ROOT / "template.yaml"
    source = template.read_text()
    assert source.count(f"[{DEPLOYED_ARCHITECTURE}]") == 2
    assert f"BuildArchitecture: {DEPLOYED_ARCHITECTURE}" in source
    if architecture != DEPLOYED_ARCHITECTURE:
        template = ROOT / f".template-{architecture}.yaml"
        template.write_text(source.replace(DEPLOYED_ARCHITECTURE, architecture))
    try:
        subprocess.run(
            [make, "build", f"BUILD_DIR={build}", f"SAM_BUILD_ARGS=--template-file {template.name}"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        if template.name != "template.yaml":
            template.unlink()
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

# Imports a handler (and its lazy imports) as Lambda would, and lists the modules compiled from source on
# the way: Lambda cannot cache those (its code directory is read-only), so each cold start would pay again.
_IMPORT_HANDLER = """
import importlib, importlib._bootstrap_external as external, json, sys
search_path, module, attribute, lazy = json.loads(sys.argv[1])
compiled = []
original = external.SourceLoader.source_to_code
def counting(self, data, path, *args, **kwargs):
    compiled.append(path)
    return original(self, data, path, *args, **kwargs)
external.SourceLoader.source_to_code = counting
sys.path[:0] = search_path
assert callable(getattr(importlib.import_module(module), attribute))
for name in lazy:
    importlib.import_module(name)
print(json.dumps(compiled))
"""
SAM_ZIP_EPOCH = 315532800  # 1980-01-01: SAM writes its zip entries undated, so Lambda sees this mtime


def test_every_handler_imports_from_the_build_output_and_its_bytecode(build_dir: Path, tmp_path: Path):
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    for name in RUNTIME_PROVIDED:
        (runtime / name).symlink_to(_site_packages() / name)
    for path in build_dir.rglob("*"):  # as the zip will date them; timestamp-based .pyc would all go stale
        os.utime(path, (SAM_ZIP_EPOCH, SAM_ZIP_EPOCH), follow_symlinks=False)
    layer = build_dir / "SharedLayer" / "python"
    assert (layer / "happypath" / "repository.py").exists()
    functions = _functions(build_dir)
    assert len(functions) == 8
    for logical_id, handler in functions.items():
        module, _, attribute = handler.rpartition(".")
        search_path = [str(build_dir / logical_id), str(layer), str(runtime)]
        arguments = json.dumps([search_path, module, attribute, LAZY_IMPORTS.get(logical_id, [])])
        result = subprocess.run(  # -I: nothing from this environment; -B: nothing written, as on Lambda
            [str(PYTHON313), "-I", "-B", "-c", _IMPORT_HANDLER, arguments],
            env={"AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"{logical_id} ({handler}) does not import from the build:\n{result.stderr}"
        from_source = [path for path in json.loads(result.stdout) if path.startswith(str(build_dir))]
        assert from_source == [], f"{logical_id} compiles {len(from_source)} modules at import: {from_source[:5]}"


def test_the_bundles_leave_numpys_test_suites_out(build_dir: Path):
    """~16 MB of numpy's own tests in each image function's bundle, which nothing imports (the handlers still
    import from the build output: the test above)."""
    assert list(build_dir.glob("*/numpy/__init__.py")), "no bundle has numpy: this test checks nothing"
    assert not [path for path in build_dir.glob("*/numpy/**/tests") if path.is_dir()]


def test_pillow_ships_only_with_the_workflow_functions(build_dir: Path):
    for logical_id in _functions(build_dir):
        has_pillow = (build_dir / logical_id / "PIL").is_dir()
        assert has_pillow == (logical_id not in ("ApiFunction", "NotifierFunction", "SweeperFunction")), logical_id


def _run_in_bundle(build_dir: Path, logical_id: str, script: str, *arguments: str) -> object:
    """Run `script` in an isolated interpreter whose path is the function's bundle and the layer; its JSON output.
    The script finds the path in `sys.argv[1]` (a JSON list), then `arguments`."""
    search_path = [str(build_dir / logical_id), str(build_dir / "SharedLayer" / "python")]
    result = subprocess.run(
        [str(PYTHON313), "-I", "-B", "-c", script, json.dumps(search_path), *arguments],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


_RENDER_HEIC = """
import json, sys
sys.path[:0] = json.loads(sys.argv[1])
from happypath_workflow import imaging
data = open(sys.argv[2], "rb").read()
renditions = imaging.render(data, workers=2)
print(json.dumps({name: [r.width, r.height] for name, r in renditions.items()}))
"""


@pytest.mark.parametrize("logical_id", ["CheckImageFunction", "ResizeFunction"])
def test_the_image_functions_decode_a_heic_with_the_libheif_they_ship(build_dir: Path, logical_id: str):
    # libheif is found beside pillow-heif's package and called through ctypes: a build that left the
    # library out, or moved it, would fail only when the first HEIC arrived.
    photo = ROOT.parent / "shared" / "photos" / "iphone_13_pro_max.HEIC"
    sizes = _run_in_bundle(build_dir, logical_id, _RENDER_HEIC, str(photo))
    assert sizes == {"tile": [400, 400], "scaled": [600, 800]}


_LOAD_NATIVE_LIBRARY = """
import importlib, json, sys
sys.path[:0] = json.loads(sys.argv[1])
module = importlib.import_module("happypath_workflow." + sys.argv[2])
print(json.dumps([module.LIBRARY.name, module.available()]))
"""


@pytest.mark.parametrize("logical_id", ["CheckImageFunction", "ResizeFunction"])
@pytest.mark.parametrize(
    ("module", "library"),
    [("progressive_jpeg", "_progressive_jpeg"), ("webp_encoder", "_webp_encoder"), ("resampler", "_resampler")],
)
def test_the_image_functions_ship_their_native_libraries_for_both_architectures(
    build_dir: Path, logical_id: str, module: str, library: str
):
    # Built by `make native` beside the code, not by `sam build`. A build without them would still work, with
    # more memory (libjpeg holding every coefficient of a progressive JPEG), larger WebPs (Pillow's libwebp
    # at method 2) and slower resampling (Pillow's), so nothing else would fail.
    package = build_dir / logical_id / "happypath_workflow"
    for machine in ("x86_64", "aarch64"):
        assert (package / f"{library}.{machine}.so.1").is_file(), machine
    loaded = _run_in_bundle(build_dir, logical_id, _LOAD_NATIVE_LIBRARY, module)
    assert loaded == [f"{library}.{platform.machine()}.so.1", True]
