"""Build the resize step's WebP encoder: libwebp 1.5.0 with libwebp-pruned-rd.patch, and webp_encoder.c.

    python workflows/native/build_webp_encoder.py ARCH OUTPUT [PROGRAM.c]     (ARCH: x86_64 or aarch64)

With PROGRAM.c, OUTPUT is that program, linked statically with the encoder (for musl: qemu runs it without
an arm64 C library; tests/unit/test_webp_encoder.py compares the two builds' files).

The source is Debian's copy of libwebp's release tarball (a package registry this project already installs
from), checked against its SHA-256 and kept in .native-build/; compiled with Zig's C compiler (ziglang, in
the dev group) for glibc 2.17 and up, as the progressive JPEG decoder is. Only the two functions of
webp_encoder.c are exported: libwebp's own symbols stay hidden, so this library and Pillow's libwebp can be
loaded in one process without either taking the other's functions.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

VERSION = "1.5.0"
SOURCE_URL = f"https://deb.debian.org/debian/pool/main/libw/libwebp/libwebp_{VERSION}.orig.tar.gz"
SOURCE_SHA256 = "7d6fab70cf844bf6769077bd5d7a74893f8ffd4dfb42861745750c63c2a5c92c"
HERE = Path(__file__).resolve().parent
PATCH = HERE / "libwebp-pruned-rd.patch"
SHIM = HERE / "webp_encoder.c"  # with webp_encoder.h beside it
BUILD = HERE.parent.parent / ".native-build"
SOURCE_DIRS = ("src/enc", "src/dsp", "src/utils", "sharpyuv")
FLAGS = (
    "-O2",
    "-fPIC",
    "-DNDEBUG",
    "-DWEBP_USE_THREAD",  # the resize step encodes its two outputs on two threads
    "-DWEBP_EXTERN=extern",  # with -fvisibility=hidden: libwebp's API is not exported
    "-fvisibility=hidden",
    "-ffp-contract=off",  # no fused multiply-adds: arm64 and x86-64 builds write the same files
)
ARCH_FLAGS = {"x86_64": ("-DWEBP_HAVE_SSE2", "-DWEBP_HAVE_SSE41"), "aarch64": ()}
"""x86-64: SSE2 throughout; the SSE4.1 files get -msse4.1 and libwebp picks them at run time if the CPU has it.
arm64 compilers enable NEON, which libwebp then uses throughout."""


def main(arch: str, output: Path, program: Path | None = None) -> None:
    if arch not in ARCH_FLAGS:
        raise SystemExit(f"unknown architecture {arch!r}: x86_64 or aarch64")
    source = _patched_source()
    system = "linux-musl" if program else "linux-gnu.2.17"
    objects = BUILD / f"objects-{arch}-{system}"
    shutil.rmtree(objects, ignore_errors=True)
    objects.mkdir(parents=True)
    files = [*sorted(path for folder in SOURCE_DIRS for path in (source / folder).glob("*.c")), SHIM]
    compiler = [sys.executable, "-m", "ziglang", "cc", "-target", f"{arch}-{system}"]
    include = ("-I", str(source), "-I", str(source / "src"))

    def compile_one(index_and_path: tuple[int, Path]) -> Path:
        index, path = index_and_path
        target = objects / f"{index:03d}-{path.stem}.o"
        extra = ("-msse4.1",) if arch == "x86_64" and path.stem.endswith("_sse41") else ()
        command = [*compiler, *FLAGS, *ARCH_FLAGS[arch], *extra, *include, "-c", str(path), "-o", str(target)]
        subprocess.run(command, check=True)
        return target

    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        built = list(pool.map(compile_one, enumerate(files)))
    output.parent.mkdir(parents=True, exist_ok=True)
    kind = ["-static", str(program)] if program else ["-shared", "-Wl,-z,defs"]
    subprocess.run([*compiler, *kind, "-s", "-o", str(output), *map(str, built), "-lm", "-lpthread"], check=True)


def _patched_source() -> Path:
    """libwebp's source with the patch applied, extracted again when the patch changes. Builds for the two
    architectures may run at once (`make -j2 native`): one prepares the source while the other waits."""
    BUILD.mkdir(parents=True, exist_ok=True)
    with (BUILD / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _prepare_source()


def _prepare_source() -> Path:
    tarball = BUILD / f"libwebp_{VERSION}.orig.tar.gz"
    if not tarball.exists() or _sha256(tarball.read_bytes()) != SOURCE_SHA256:
        print(f"downloading {SOURCE_URL}", file=sys.stderr)
        try:
            with urllib.request.urlopen(SOURCE_URL, timeout=120) as response:
                data = response.read()
        except OSError as exc:  # URLError, timeouts
            raise SystemExit(
                f"could not download libwebp's source ({exc}). It is needed once: put {SOURCE_URL.rsplit('/', 1)[1]}"
                f" (SHA-256 {SOURCE_SHA256}) in {BUILD} to build offline."
            ) from exc
        if _sha256(data) != SOURCE_SHA256:
            raise SystemExit(f"{SOURCE_URL}: not the expected file (SHA-256 differs)")
        partial = tarball.with_name(tarball.name + ".part")
        partial.write_bytes(data)
        partial.rename(tarball)
    source = BUILD / f"libwebp-{VERSION}"
    stamp = source / ".patched"
    patch = PATCH.read_bytes()
    if stamp.exists() and stamp.read_bytes() == patch:
        return source
    patch_tool = shutil.which("patch")
    if patch_tool is None:
        raise SystemExit("building libwebp needs `patch` (Debian: apt-get install patch)")
    # Extracted and patched aside, then moved into place: an interrupted build leaves no half-patched tree.
    staging = BUILD / f"libwebp-{VERSION}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    with tarfile.open(tarball) as archive:
        archive.extractall(staging, filter="data")
    subprocess.run([patch_tool, "-p1", "--quiet", "--forward", "-i", str(PATCH)], cwd=staging / source.name, check=True)
    (staging / source.name / ".patched").write_bytes(patch)
    shutil.rmtree(source, ignore_errors=True)
    (staging / source.name).rename(source)
    staging.rmdir()
    return source


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        raise SystemExit(__doc__)
    main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]) if len(sys.argv) == 4 else None)
