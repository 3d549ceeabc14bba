"""Fixtures of the container tests (marker `container`): a private Docker engine and the project's
image built from its Dockerfile, offline (see tests/helpers/docker_engine.py). They skip, saying why,
only where Docker cannot run; the figures measured (build time, image size, cold start) close the
test report."""

from __future__ import annotations

import pytest

from common.settings import REPO_ROOT
from helpers import docker_engine
from helpers.container import FIGURES, IMAGE, Container


@pytest.fixture(scope="session")
def docker():
    try:
        with docker_engine.engine() as engine:
            engine.figures = FIGURES
            yield engine
    except docker_engine.DockerUnavailable as exc:
        pytest.skip(f"Docker cannot run here: {exc}")


@pytest.fixture(scope="session")
def image(docker) -> str:
    try:
        return docker_engine.build_image(docker, REPO_ROOT, IMAGE)
    except docker_engine.DockerUnavailable as exc:
        pytest.skip(f"Docker cannot run here: {exc}")


@pytest.fixture
def containers(docker):
    """Start containers with `containers(image, *docker_run_options, command=..., port=...)`."""
    started: list[Container] = []

    def start(image: str, *options: str, **kwargs) -> Container:
        container = Container(docker, image, *options, **kwargs)
        started.append(container)
        return container

    yield start
    for container in started:
        container.remove()
