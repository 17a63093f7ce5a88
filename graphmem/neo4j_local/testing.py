"""Find a Neo4j for a test session, whatever the machine offers.

Usage from a session fixture::

    @pytest.fixture(scope="session")
    def neo4j_settings() -> Iterator[Settings]:
        with neo4j_for_tests(Settings(data_dir=..., neo4j_bolt_port=...)) as settings:
            yield settings

Order of preference: a Neo4j already reachable with the given settings (a dev server, CI
service, Aura), then a throwaway testcontainers container when a Docker engine answers, then
the project's own local server (``up``). Only what this function started is stopped on exit.
Note that the local fallback uses ``settings.data_dir``: give tests their own data dir unless
they may write into the developer's graph.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

from neo4j import GraphDatabase
from neo4j.exceptions import AuthError, DriverError, Neo4jError
from pydantic import SecretStr

from graphmem.neo4j_local import server
from graphmem.settings import Settings

log = logging.getLogger(__name__)

CONTAINER_IMAGE = "neo4j:5.26-community"


@contextlib.contextmanager
def neo4j_for_tests(settings: Settings) -> Iterator[Settings]:
    """Yield settings that point at a working Neo4j, for the duration of the `with` block."""
    if _reachable(settings):
        log.info("tests use the Neo4j already reachable at %s", settings.neo4j_uri)
        yield settings
    elif containers_available():
        log.info("tests use a %s container started with testcontainers", CONTAINER_IMAGE)
        with _container(settings) as container_settings:
            yield container_settings
    else:
        log.info("no reachable Neo4j and no Docker: tests use the local server (graphmem neo4j)")
        with _local_server(settings) as local_settings:
            yield local_settings


def _reachable(settings: Settings) -> bool:
    """True when the URI accepts the configured login. A server that answers but rejects the
    login is an error rather than a reason to start another one on top of it."""
    auth = (settings.neo4j_user, settings.neo4j_password.get_secret_value())
    try:
        with GraphDatabase.driver(
            settings.neo4j_uri, auth=auth, connection_timeout=settings.neo4j_connect_timeout_s
        ) as driver:
            driver.verify_connectivity()
    except AuthError as exc:
        raise server.CredentialsError(
            f"Neo4j at {settings.neo4j_uri} answers but rejects user {settings.neo4j_user!r} "
            "with the configured password (GRAPHMEM_NEO4J_USER / GRAPHMEM_NEO4J_PASSWORD)"
        ) from exc
    except (DriverError, Neo4jError, OSError, ValueError) as exc:
        log.debug("Neo4j at %s not usable: %s", settings.neo4j_uri, exc)
        return False
    return True


def containers_available() -> bool:
    """Whether `neo4j_for_tests` could use a testcontainers container here."""
    return docker_available() and _testcontainers_installed()


def docker_available() -> bool:
    """A Docker engine answers (`docker info`), not merely a docker client on PATH."""
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        proc = subprocess.run([docker, "info"], capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def _testcontainers_installed() -> bool:
    try:
        return importlib.util.find_spec("testcontainers.neo4j") is not None
    except ImportError:
        return False


@contextlib.contextmanager
def _container(settings: Settings) -> Iterator[Settings]:
    from testcontainers.neo4j import Neo4jContainer

    # The image only accepts the user `neo4j` in NEO4J_AUTH.
    password = settings.neo4j_password.get_secret_value()
    container: Any = Neo4jContainer(CONTAINER_IMAGE, password=password)
    container.start()
    try:
        uri = str(container.get_connection_url())
        log.info("Neo4j container ready at %s", uri)
        yield settings.model_copy(
            update={"neo4j_uri": uri, "neo4j_user": "neo4j", "neo4j_password": SecretStr(password)}
        )
    finally:
        container.stop()


@contextlib.contextmanager
def _local_server(settings: Settings) -> Iterator[Settings]:
    info = server.up(settings)
    try:
        yield settings.model_copy(update={"neo4j_uri": info.bolt_uri})
    finally:
        if not info.already_running:
            server.down(settings)
