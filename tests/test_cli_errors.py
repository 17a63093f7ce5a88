"""The command line answers bad input and bad settings with one clear line and exit code 2,
never a traceback or a silent no-op (issue 8, items 10 and 14)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import Result
from neo4j import Driver
from typer.testing import CliRunner

from graphmem.cli import app
from graphmem.settings import Settings
from tests.conftest import count_user_nodes


@pytest.fixture
def env(neo4j_settings: Settings) -> dict[str, str]:
    return {"GRAPHMEM_NEO4J_URI": neo4j_settings.neo4j_uri,
            "GRAPHMEM_NEO4J_PASSWORD": neo4j_settings.neo4j_password.get_secret_value(),
            "GRAPHMEM_NEO4J_CONNECT_TIMEOUT_S": "3", "COLUMNS": "200"}


def clear_error(result: Result, *mentions: str) -> None:
    """Exit code 2, no exception other than the exit itself, and the words the user needs."""
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        repr(result.exception))
    assert "Traceback" not in result.output
    text = " ".join(result.output.split())
    for word in mentions:
        assert word in text, text


def test_10_ingest_validates_the_whole_file_first(env: dict[str, str], uid: str, tmp_path: Path,
                                                  driver: Driver) -> None:
    messages = [{"role": "user", "content": f"I visited city number {i}.", "id": f"m{i}"}
                for i in range(6)]
    messages[5] = {"role": "user", "id": "m5"}  # batch 3 at --batch-size 2
    path = tmp_path / "conv.json"
    path.write_text(json.dumps(messages))
    result = CliRunner().invoke(app, ["ingest", str(path), "--user", uid, "--batch-size", "2"],
                                env=env)
    clear_error(result, "message 5", "nothing was written")
    assert count_user_nodes(driver, uid)["episodes"] == 0


def test_10_ingest_reports_what_was_written_before_a_failure(
        env: dict[str, str], uid: str, tmp_path: Path) -> None:
    """A batch that the store refuses (here: writing as another user, denied): the report
    says exactly what was written before it."""
    sessions = {"user_id": uid, "sessions": [
        {"session_id": "a", "messages": [{"role": "user", "content": f"Fact {i} about me."}
                                         for i in range(4)]},
    ]}
    path = tmp_path / "conv.json"
    path.write_text(json.dumps(sessions))
    ok = CliRunner().invoke(app, ["ingest", str(path), "--batch-size", "2"], env=env)
    assert ok.exit_code == 0, ok.output
    denied = CliRunner().invoke(app, ["ingest", str(path), "--batch-size", "2", "--user", uid,
                                      "--actor", f"user:{uid}x"], env=env)
    clear_error(denied, "0 of 2 batches", "may not")


@pytest.mark.parametrize(("args", "mentions"), [
    (["--batch-size", "0"], ["batch-size"]),
    (["--batch-size", "-5"], ["batch-size"]),
    (["--format", "graphmem"], ["not a graphmem conversation file"]),
])
def test_14_ingest_arguments(env: dict[str, str], uid: str, tmp_path: Path,
                             args: list[str], mentions: list[str]) -> None:
    path = tmp_path / "strings.json"
    path.write_text(json.dumps(["just a string", "another"]))
    result = CliRunner().invoke(app, ["ingest", str(path), "--user", uid, *args], env=env)
    clear_error(result, *mentions)


def test_14_search_limit_zero(env: dict[str, str], uid: str) -> None:
    clear_error(CliRunner().invoke(app, ["search", "x", "--user", uid, "--limit", "0"], env=env),
                "limit")


@pytest.mark.parametrize(("override", "mentions"), [
    ({"GRAPHMEM_TOP_K": "abc"}, ["GRAPHMEM_TOP_K", "integer"]),
    ({"GRAPHMEM_NEO4J_URI": "garbage"}, ["not a Neo4j URI"]),
    ({"GRAPHMEM_NEO4J_URI": "http://127.0.0.1:7474"}, ["not a Neo4j URI"]),
    ({"GRAPHMEM_NEO4J_DATABASE": "nosuchdb"}, ["no database", "nosuchdb"]),
])
def test_14_bad_settings(env: dict[str, str], uid: str, override: dict[str, str],
                         mentions: list[str]) -> None:
    result = CliRunner().invoke(app, ["search", "x", "--user", uid], env={**env, **override})
    clear_error(result, *mentions)


def test_14_wrong_password_and_the_login_rate_limit(env: dict[str, str], uid: str) -> None:
    """Neo4j locks a user out for a few seconds after repeated failed logins; both the
    rejection and the lock-out are one clear line."""
    bad = {**env, "GRAPHMEM_NEO4J_PASSWORD": "wrong-password"}
    outputs = []
    try:
        for _ in range(4):
            result = CliRunner().invoke(app, ["search", "x", "--user", uid], env=bad)
            clear_error(result, "Neo4j")
            outputs.append(" ".join(result.output.split()))
    finally:
        time.sleep(6)  # let the lock-out pass before other tests log in as the same user
    assert any("credentials" in o for o in outputs)
