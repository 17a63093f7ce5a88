"""The local Neo4j server, for real: a JVM on throwaway data dirs and free, non-default ports.

Jars come from the shared cache dir (resolved with mvn on the first run only), so a developer's
server on 7687/7474 and their data dir are never touched. Needs Java 17+ (and mvn on a cold
cache); skipped otherwise.
"""

from __future__ import annotations

import json
import shutil
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from neo4j import GraphDatabase
from neo4j.exceptions import AuthError
from pydantic import SecretStr
from typer.testing import CliRunner

from graphmem.neo4j_local import cli, server
from graphmem.neo4j_local.testing import containers_available, neo4j_for_tests
from graphmem.settings import Settings

PASSWORD = "test-pw-Ümlaut \"quoted\" \\ 'x'"  # exercises the @-file quoting and UTF-8 path

pytestmark = [
    pytest.mark.skipif(shutil.which("java") is None, reason="needs Java 17+"),
    pytest.mark.skipif(
        not server.jars_ready(Settings()) and shutil.which("mvn") is None,
        reason="needs mvn to resolve the Neo4j jars",
    ),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _settings(data_dir: Path, bolt: int | None = None, http: int | None = None) -> Settings:
    bolt = bolt or _free_port()
    while http is None or http == bolt:
        http = _free_port()
    return Settings(
        data_dir=data_dir,
        cache_dir=Settings().cache_dir,  # share the resolved jars with every other run
        neo4j_uri=f"bolt://127.0.0.1:{bolt}",
        neo4j_password=SecretStr(PASSWORD),
        neo4j_bolt_port=bolt,
        neo4j_http_port=http,
        neo4j_heap="512m",
        neo4j_pagecache="64m",
    )


def _query(settings: Settings, cypher: str) -> object:
    auth = (settings.neo4j_user, settings.neo4j_password.get_secret_value())
    with GraphDatabase.driver(settings.neo4j_uri, auth=auth) as driver:
        records, _, _ = driver.execute_query(cypher)
    return records[0][0]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A running server for the module; always stopped at the end, even after a failure."""
    s = _settings(tmp_path_factory.mktemp("neo4j-local"))
    try:
        info = server.up(s)
        assert not info.already_running
        yield s
    finally:
        server.down(s)


def test_up_serves_bolt_http_and_browser(settings: Settings) -> None:
    assert _query(settings, "RETURN 1") == 1
    assert server.jars_ready(settings)
    port = settings.neo4j_http_port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as response:
        assert json.load(response)["neo4j_version"] == settings.neo4j_version
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/browser/") as response:
        assert "Neo4j Browser" in response.read().decode()


def test_server_runs_with_the_vector_merge_factor(settings: Settings,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Neo4j validates its conf strictly at start, so this running server accepted the
    setting; an environment variable changes it."""
    conf = server.ServerLayout.of(settings).conf_file.read_text()
    assert "internal.dbms.index.vector.standard_merge_factor=2\n" in conf
    assert "internal.dbms.index.vector.population_merge_factor=2\n" in conf
    assert _query(settings, "RETURN 1") == 1
    monkeypatch.setenv("GRAPHMEM_NEO4J_VECTOR_MERGE_FACTOR", "10")
    changed = Settings(data_dir=settings.data_dir)
    assert "internal.dbms.index.vector.standard_merge_factor=10\n" in server.render_conf(
        changed, server.ServerLayout.of(changed))


def _in_list_estimates(settings: Settings, sizes: tuple[int, ...]) -> list[float]:
    """The planner's row estimate for `n.x IN $rows` over 20 nodes, per length of $rows."""
    auth = (settings.neo4j_user, settings.neo4j_password.get_secret_value())
    with GraphDatabase.driver(settings.neo4j_uri, auth=auth) as driver:
        driver.execute_query("MERGE (p:SizeProbe {x: 0}) WITH p "
                             "UNWIND range(1, 19) AS i MERGE (:SizeProbe {x: i})")
        out = []
        for size in sizes:
            _, summary, _ = driver.execute_query(
                "EXPLAIN MATCH (n:SizeProbe) WHERE n.x IN $rows RETURN n",
                rows=list(range(size)))
            out.append(float(summary.plan["args"]["EstimatedRows"]))
    return out


def test_server_plans_without_parameter_sizes(settings: Settings) -> None:
    """One plan serves a statement whatever the length of its lists and texts. With Neo4j's
    size hints (its default) the planner sizes `IN $list` by the list's length rounded up to a
    power of ten and caches a plan per such length, so a cold server planned an add again and
    again (benchmarks/README.md, stop 23). Without them, 5 ids and 500 get the same estimate."""
    few, many = _in_list_estimates(settings, (5, 500))
    assert few == many


def test_default_password_was_never_active(settings: Settings) -> None:
    with (
        GraphDatabase.driver(settings.neo4j_uri, auth=("neo4j", "neo4j")) as driver,
        pytest.raises(AuthError),
    ):
        driver.verify_connectivity()


def test_up_again_reports_already_running(settings: Settings) -> None:
    pid = server.status(settings).pid
    info = server.up(settings)
    assert info.already_running
    assert info.pid == pid
    assert info.bolt_uri == settings.neo4j_uri


def test_status_while_running(settings: Settings) -> None:
    st = server.status(settings)
    assert st.running
    assert st.bolt_reachable
    assert (st.bolt_port, st.http_port) == (settings.neo4j_bolt_port, settings.neo4j_http_port)
    assert st.data_dir == settings.neo4j_data_dir
    assert "Started." in st.log_path.read_text()


def test_down_then_up_keeps_data_and_password(settings: Settings) -> None:
    _query(settings, "CREATE (:Probe {name: 'survivor'}) RETURN 1")
    assert server.down(settings)
    st = server.status(settings)
    assert not st.running
    assert not st.bolt_reachable
    assert not server.ServerLayout.of(settings).pid_file.exists()
    assert not server.down(settings)  # harmless when nothing runs

    info = server.up(settings)
    assert not info.already_running
    assert _query(settings, "MATCH (p:Probe {name: 'survivor'}) RETURN count(p)") == 1


def test_existing_server_is_reused_for_tests(settings: Settings) -> None:
    with neo4j_for_tests(settings) as chosen:
        assert chosen is settings
    assert server.status(settings).running  # not stopped: it was not started for the tests


@pytest.mark.skipif(containers_available(), reason="with Docker, neo4j_for_tests uses a container")
def test_tests_fall_back_to_a_local_server(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    with neo4j_for_tests(s) as chosen:
        assert _query(chosen, "RETURN 2") == 2
        assert server.status(s).running
    assert not server.status(s).running  # started for the tests, so stopped afterwards


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        busy = listener.getsockname()[1]
        s = _settings(tmp_path, bolt=busy)
        with pytest.raises(server.PortInUseError, match=rf"port {busy}\b") as caught:
            server.up(s)
    assert caught.value.port == busy
    assert "GRAPHMEM_NEO4J_BOLT_PORT" in str(caught.value)
    assert not server.status(s).running


def test_old_java_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_java = tmp_path / "jdk11" / "bin" / "java"
    fake_java.parent.mkdir(parents=True)
    fake_java.write_text("#!/bin/sh\necho 'openjdk version \"11.0.22\" 2024-01-16' >&2\n")
    fake_java.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk11"))
    with pytest.raises(server.JavaError, match=r"Java 11.*17 or newer"):
        server.up(_settings(tmp_path / "data"))


def test_cli_status_of_a_stopped_server(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli.app, ["status"], obj=_settings(tmp_path))
    assert result.exit_code == cli.EXIT_NOT_RUNNING
    assert "running" in result.output


def test_cli_help_explains_commands() -> None:
    result = CliRunner().invoke(cli.app, ["up", "--help"])
    assert result.exit_code == 0
    assert "Maven Central" in result.output
