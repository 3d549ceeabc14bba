"""A private Docker engine for the container tests, offline and without touching the host's network.

`dockerd` runs with `--bridge=none --iptables=false --ip-forward=false` on a socket of its own; its
data root lives in a cache folder (CONTAINER_TEST_CACHE, default ~/.cache/sids-ml-container) so the
base image and the build cache survive between runs. No registry is reachable, so the base image is
made here: Debian bookworm (its python3 is 3.11) by debootstrap, turned into an image by
`docker import`. Containers use the host's network (`--network host`) or none.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CACHE = Path(os.environ.get("CONTAINER_TEST_CACHE") or Path.home() / ".cache" / "sids-ml-container")
BASE_IMAGE = "sids-ml-base:bookworm-py311"
DEBIAN_MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
DOCKERD_NETWORK_FLAGS = ["--bridge=none", "--iptables=false", "--ip-forward=false"]


class DockerUnavailable(Exception):
    """Docker cannot run here; the message says why (the tests skip with it)."""


def docker_cli() -> str:
    """The CLI of the docker.io package (same version as its dockerd; BuildKit built in)."""
    packaged = Path("/usr/bin/docker")
    found = str(packaged) if packaged.is_file() else shutil.which("docker")
    if not found:
        raise DockerUnavailable("no docker CLI (apt-get install docker.io)")
    return found


def ca_bundle() -> str | None:
    """The CA bundle pip on this host trusts, handed to the build as a secret."""
    for candidate in (
        os.environ.get("PIP_CERT"),
        os.environ.get("SSL_CERT_FILE"),
        ssl.get_default_verify_paths().cafile,
        "/etc/ssl/certs/ca-certificates.crt",
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


@dataclass
class Engine:
    cli: str
    socket: Path
    figures: dict = field(default_factory=dict)

    @property
    def env(self) -> dict:
        return {**os.environ, "DOCKER_HOST": f"unix://{self.socket}", "DOCKER_BUILDKIT": "1"}

    def run(
        self, *args: str, timeout: float = 120, check: bool = True, **kwargs
    ) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [self.cli, *args], env=self.env, capture_output=True, text=True, timeout=timeout, **kwargs
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"docker {' '.join(args[:3])} ... failed ({result.returncode}):\n"
                f"{result.stdout[-3000:]}{result.stderr[-3000:]}"
            )
        return result

    def has_image(self, name: str) -> bool:
        return self.run("image", "inspect", name, check=False).returncode == 0

    def image_size(self, name: str) -> int:
        return int(self.run("image", "inspect", "--format", "{{.Size}}", name).stdout.strip())

    def inspect_image(self, name: str) -> dict:
        return json.loads(self.run("image", "inspect", name).stdout)[0]

    def inspect(self, container: str) -> dict:
        return json.loads(self.run("inspect", container).stdout)[0]


@contextlib.contextmanager
def engine():
    """Start a private dockerd (one at a time per cache folder) and stop it by its PID afterwards."""
    if os.name != "posix" or not Path("/proc").is_dir():
        raise DockerUnavailable("Docker containers need a Linux host")
    dockerd = shutil.which("dockerd") or (
        "/usr/sbin/dockerd" if Path("/usr/sbin/dockerd").is_file() else None
    )
    if not dockerd:
        raise DockerUnavailable("dockerd is not installed (apt-get install docker.io)")
    if os.geteuid() != 0:
        raise DockerUnavailable("dockerd needs root (CI runs as root)")
    cli = docker_cli()
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        run_dir = Path(tempfile.mkdtemp(prefix="sids-docker-", dir="/tmp"))  # short socket paths
        log_path = CACHE / "dockerd.log"
        with open(log_path, "w") as log:
            process = subprocess.Popen(
                [
                    dockerd,
                    *DOCKERD_NETWORK_FLAGS,
                    "--host",
                    f"unix://{run_dir / 'docker.sock'}",
                    "--data-root",
                    str(CACHE / "data"),
                    "--exec-root",
                    str(run_dir / "exec"),
                    "--pidfile",
                    str(run_dir / "dockerd.pid"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        docker = Engine(cli, run_dir / "docker.sock")
        try:
            deadline = time.monotonic() + 60
            while docker.run("version", check=False, timeout=10).returncode != 0:
                if process.poll() is not None or time.monotonic() > deadline:
                    tail = log_path.read_text()[-1500:]
                    raise DockerUnavailable(f"dockerd did not start (exit {process.poll()}): {tail}")
                time.sleep(0.2)
            yield docker
        finally:
            with contextlib.suppress(Exception):
                running = docker.run("ps", "-aq", check=False, timeout=30).stdout.split()
                if running:
                    docker.run("rm", "-f", *running, check=False, timeout=60)
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
            shutil.rmtree(run_dir, ignore_errors=True)


def import_rootfs(docker: Engine, rootfs: Path, name: str = BASE_IMAGE) -> None:
    """Trim a debootstrapped tree, give it `python`, and import it as an image."""
    for junk in (
        "var/cache/apt/archives",
        "var/lib/apt/lists",
        "usr/share/doc",
        "usr/share/man",
        "usr/share/info",
        "usr/share/locale",
    ):
        for path in (rootfs / junk).glob("*"):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    python = rootfs / "usr/bin/python"
    if not python.exists():
        python.symlink_to("python3")
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    docker.run("import", "-", name, stdin=tar.stdout, timeout=600)
    assert tar.wait(timeout=60) == 0


def base_image(docker: Engine) -> str:
    """PYTHON_IMAGE if given (already loaded), else the cached local bookworm + Python 3.11 base."""
    given = os.environ.get("PYTHON_IMAGE")
    if given:
        if not docker.has_image(given):
            raise AssertionError(f"PYTHON_IMAGE={given} is not in the engine (no registry to pull from)")
        return given
    if docker.has_image(BASE_IMAGE):
        return BASE_IMAGE
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not Path(debootstrap).is_file():
        raise DockerUnavailable("no base image and no debootstrap to make one (apt-get install debootstrap)")
    rootfs = CACHE / "rootfs-build"
    shutil.rmtree(rootfs, ignore_errors=True)
    started = time.monotonic()
    result = subprocess.run(
        [
            debootstrap,
            "--variant=minbase",
            "--include=python3,python3-venv",
            "bookworm",
            str(rootfs),
            DEBIAN_MIRROR,
        ],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert result.returncode == 0, f"debootstrap failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
    import_rootfs(docker, rootfs)
    shutil.rmtree(rootfs, ignore_errors=True)
    docker.figures["base image made (s)"] = round(time.monotonic() - started, 1)
    return BASE_IMAGE


def build_image(docker: Engine, context: Path, tag: str) -> str:
    """`docker build` of the project's Dockerfile on the local base, pip trusting the host's CA bundle."""
    base = base_image(docker)
    command = ["build", "--network", "host", "--build-arg", f"PYTHON_IMAGE={base}", "-t", tag]
    bundle = ca_bundle()
    if bundle:
        command += ["--secret", f"id=ca,src={bundle}"]
    started = time.monotonic()
    docker.run(*command, str(context), timeout=1500)
    docker.figures["image build (s)"] = round(time.monotonic() - started, 1)
    docker.run("image", "prune", "--force", check=False, timeout=120)
    size = docker.image_size(tag)
    docker.figures["image size (MB)"] = round(size / 1e6, 1)
    return tag
