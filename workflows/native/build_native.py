"""Build one of the image steps' native libraries: its C file here, with its upstream source if it has one.

    python workflows/native/build_native.py LIBRARY ARCH OUTPUT [PROGRAM.c]

LIBRARY is `progressive_jpeg` (progressive_jpeg.c), `webp_encoder` (libwebp 1.5.0 with libwebp-pruned-rd.patch,
and webp_encoder.c) or `resampler` (stb_image_resize2.h from libstb, and resampler.c); ARCH is x86_64 or aarch64.
With PROGRAM.c, OUTPUT is that program, linked statically with the library (for musl: qemu runs it without an
arm64 C library; the tests compare the two builds' outputs).

Each upstream source is Debian's copy of the project's release (a package registry this project already installs
from), checked against its SHA-256 and kept in .native-build/. Everything is compiled with Zig's C compiler
(ziglang, in the dev group: no system compiler needed) for glibc 2.17 and up. Only the functions our C files mark
for export are exported: upstream symbols stay hidden, so our libwebp and Pillow's can be loaded in one process
without either taking the other's functions.
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
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD = HERE.parent.parent / ".native-build"
ARCHITECTURES = ("x86_64", "aarch64")
FLAGS = (
    "-O2",
    "-fPIC",
    "-DNDEBUG",
    "-fvisibility=hidden",
    "-ffp-contract=off",  # no fused multiply-adds: arm64 and x86-64 builds give the same output
)


@dataclass(frozen=True)
class Upstream:
    """A release tarball in Debian's archive, unpacked into .native-build/`folder` (its top folder) and patched."""

    folder: str
    url: str
    sha256: str
    patch: Path | None = None

    @property
    def tarball(self) -> str:
        return self.url.rsplit("/", 1)[1]


@dataclass(frozen=True)
class Library:
    upstream: Upstream | None
    shim: Path  # ours, with its header beside it
    source_dirs: tuple[str, ...] = ()  # upstream folders whose C files are compiled in
    include_dirs: tuple[str, ...] = ()  # upstream folders, as system headers (their warnings are upstream's)
    flags: tuple[str, ...] = ()
    arch_flags: dict[str, tuple[str, ...]] = field(default_factory=dict)
    link: tuple[str, ...] = ("-lm",)


LIBWEBP = Upstream(
    "libwebp-1.5.0",
    "https://deb.debian.org/debian/pool/main/libw/libwebp/libwebp_1.5.0.orig.tar.gz",
    "7d6fab70cf844bf6769077bd5d7a74893f8ffd4dfb42861745750c63c2a5c92c",
    HERE / "libwebp-pruned-rd.patch",
)
LIBSTB = Upstream(
    "libstb-0.0~git20241109.5c20573",  # stb_image_resize2 2.12
    "https://deb.debian.org/debian/pool/main/libs/libstb/libstb_0.0~git20241109.5c20573+ds.orig.tar.xz",
    "a3a5820445a7dd063516bb542a5cd54ced8efc9c5a30bfbaae1bab6dec2c1a74",
)
WARNINGS = ("-Wall", "-Wextra", "-Werror")  # on our C files (upstream's are upstream's)
LIBRARIES = {
    # Arm64 compilers would fuse multiplies and adds where x86-64 ones do not (FLAGS): both builds decode to the
    # same pixels, which tests/unit/test_progressive_jpeg.py checks under qemu.
    "progressive_jpeg": Library(None, HERE / "progressive_jpeg.c", flags=WARNINGS),
    "webp_encoder": Library(
        LIBWEBP,
        HERE / "webp_encoder.c",
        ("src/enc", "src/dsp", "src/utils", "sharpyuv"),
        (".", "src"),
        (
            "-DWEBP_USE_THREAD",  # the resize step encodes its two outputs on two threads
            "-DWEBP_EXTERN=extern",  # with -fvisibility=hidden: libwebp's API is not exported
        ),
        # x86-64: SSE2 throughout; the SSE4.1 files get -msse4.1 (below) and libwebp picks them at run time if the
        # CPU has it. arm64 compilers enable NEON, which libwebp then uses throughout.
        {"x86_64": ("-DWEBP_HAVE_SSE2", "-DWEBP_HAVE_SSE41"), "aarch64": ()},
        ("-lm", "-lpthread"),
    ),
    # stb_image_resize2 uses SSE2 on any x86-64 and NEON on arm64 (AVX needs -mavx, with no run-time check).
    "resampler": Library(LIBSTB, HERE / "resampler.c", include_dirs=(".",), flags=WARNINGS),
}


def main(name: str, arch: str, output: Path, program: Path | None = None) -> None:
    library = LIBRARIES.get(name)
    if library is None:
        raise SystemExit(f"unknown library {name!r}: one of {', '.join(LIBRARIES)}")
    if arch not in ARCHITECTURES:
        raise SystemExit(f"unknown architecture {arch!r}: x86_64 or aarch64")
    source = _unpacked(library.upstream) if library.upstream else HERE
    system = "linux-musl" if program else "linux-gnu.2.17"
    objects = BUILD / f"objects-{name}-{arch}-{system}"
    shutil.rmtree(objects, ignore_errors=True)
    objects.mkdir(parents=True)
    upstream_files = sorted(path for folder in library.source_dirs for path in (source / folder).glob("*.c"))
    compiler = [sys.executable, "-m", "ziglang", "cc", "-target", f"{arch}-{system}"]
    flags = [*FLAGS, *library.flags, *library.arch_flags.get(arch, ())]
    flags += [option for folder in library.include_dirs for option in ("-isystem", str(source / folder))]

    def compile_one(index_and_path: tuple[int, Path]) -> Path:
        index, path = index_and_path
        target = objects / f"{index:03d}-{path.stem}.o"
        extra = ("-msse4.1",) if arch == "x86_64" and path.stem.endswith("_sse41") else ()
        subprocess.run([*compiler, *flags, *extra, "-c", str(path), "-o", str(target)], check=True)
        return target

    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        built = list(pool.map(compile_one, enumerate([*upstream_files, library.shim])))
    output.parent.mkdir(parents=True, exist_ok=True)
    kind = ["-static", str(program)] if program else ["-shared", "-Wl,-z,defs"]
    subprocess.run([*compiler, *kind, "-s", "-o", str(output), *map(str, built), *library.link], check=True)


def _unpacked(upstream: Upstream) -> Path:
    """The upstream source, patched, unpacked again when the tarball or the patch changes. Builds may run at once
    (`make -j2 native`): one prepares a source while the others wait."""
    BUILD.mkdir(parents=True, exist_ok=True)
    with (BUILD / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _prepare_source(upstream)


def _prepare_source(upstream: Upstream) -> Path:
    tarball = BUILD / upstream.tarball
    if not tarball.exists() or _sha256(tarball.read_bytes()) != upstream.sha256:
        if tarball.exists():
            print(f"{tarball} is not the expected file (SHA-256 differs)", file=sys.stderr)
        print(f"downloading {upstream.url}", file=sys.stderr)
        try:
            with urllib.request.urlopen(upstream.url, timeout=120) as response:
                data = response.read()
        except OSError as exc:  # URLError, timeouts
            raise SystemExit(
                f"could not download {upstream.folder}'s source ({exc}). It is needed once: put {upstream.tarball}"
                f" (SHA-256 {upstream.sha256}) in {BUILD} to build offline."
            ) from exc
        if _sha256(data) != upstream.sha256:
            raise SystemExit(f"{upstream.url}: not the expected file (SHA-256 differs)")
        partial = tarball.with_name(tarball.name + ".part")
        partial.write_bytes(data)
        partial.rename(tarball)
    source = BUILD / upstream.folder
    stamp = source / ".patched"
    # The tarball's checksum and the patch: a tree unpacked from another tarball or patched otherwise is redone.
    recipe = upstream.sha256.encode() + b"\n" + (upstream.patch.read_bytes() if upstream.patch else b"")
    if stamp.exists() and stamp.read_bytes() == recipe:
        return source
    patch_tool = shutil.which("patch")
    if upstream.patch and patch_tool is None:
        raise SystemExit(f"building {upstream.folder} needs `patch` (Debian: apt-get install patch)")
    # Unpacked and patched aside, then moved into place: an interrupted build leaves no half-patched tree.
    staging = BUILD / f"{upstream.folder}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    with tarfile.open(tarball) as archive:
        archive.extractall(staging, filter="data")
    if upstream.patch and patch_tool:
        command = [patch_tool, "-p1", "--quiet", "--forward", "-i", str(upstream.patch)]
        subprocess.run(command, cwd=staging / upstream.folder, check=True)
    (staging / upstream.folder / ".patched").write_bytes(recipe)
    shutil.rmtree(source, ignore_errors=True)
    (staging / upstream.folder).rename(source)
    staging.rmdir()
    return source


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]) if len(sys.argv) == 5 else None)
