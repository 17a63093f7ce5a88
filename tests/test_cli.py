"""The command line against the real Neo4j, as a user would type it; and the demo (main job)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from graphmem.cli import app
from graphmem.demo import run_demo
from graphmem.settings import Settings

COMMANDS = ["neo4j", "schema", "add", "ingest", "search", "get", "history", "delete", "export",
            "import", "demo", "eval", "scheduler", "chat", "distill"]


@pytest.fixture
def env(neo4j_settings: Settings) -> dict[str, str]:
    return {"GRAPHMEM_NEO4J_URI": neo4j_settings.neo4j_uri,
            "GRAPHMEM_NEO4J_PASSWORD": neo4j_settings.neo4j_password.get_secret_value(),
            "COLUMNS": "200"}


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "Usage" in result.output and len(result.output) > 200


def test_add_search_get_history_delete_export_import(env: dict[str, str], uid: str,
                                                     tmp_path: Path) -> None:
    run = CliRunner().invoke
    added = run(app, ["add", "I'm allergic to shellfish.", "--user", uid, "--json"], env=env)
    assert added.exit_code == 0, added.output
    cube = json.loads(added.stdout)["cubes"][0]
    found = run(app, ["search", "what can't I eat", "--user", uid, "--json"], env=env)
    assert found.exit_code == 0 and cube["meta"]["id"] in found.output
    got = run(app, ["get", cube["meta"]["id"], "--user", uid], env=env)
    assert json.loads(got.stdout)["payload"]["content"] == cube["payload"]["content"]
    history = run(app, ["history", cube["meta"]["id"], "--user", uid], env=env)
    assert history.exit_code == 0 and "shellfish" in history.output
    exported = run(app, ["export", str(tmp_path / "b"), "--user", uid], env=env)
    assert exported.exit_code == 0 and (tmp_path / "b" / "manifest.json").exists()
    deleted = run(app, ["delete", cube["meta"]["id"], "--user", uid], env=env)
    assert "archived" in deleted.output
    purged = run(app, ["delete", "--user", uid, "--purge-user"], env=env)
    assert purged.exit_code == 0, purged.output
    imported = run(app, ["import", str(tmp_path / "b"), "--user", uid], env=env)
    assert imported.exit_code == 0
    assert re.search(r"imported [1-9]\d* cube versions", imported.output)


def test_errors_are_clear_and_exit_2(env: dict[str, str], uid: str, tmp_path: Path) -> None:
    run = CliRunner().invoke
    missing = run(app, ["get", "cube_nope", "--user", uid], env=env)
    assert missing.exit_code == 2 and "not found" in missing.output
    bad = tmp_path / "bad.json"
    bad.write_text('[{"role": "user"}]')
    result = run(app, ["add", "--file", str(bad), "--user", uid], env=env)
    assert result.exit_code == 2 and "content" in flat(result.output)
    down = run(app, ["search", "x", "--user", uid],
               env={**env, "GRAPHMEM_NEO4J_URI": "bolt://127.0.0.1:1",
                    "GRAPHMEM_NEO4J_CONNECT_TIMEOUT_S": "1"})
    assert down.exit_code == 2 and "unavailable" in flat(down.output)


def test_demo_ingests_the_conversation_and_answers_with_provenance(
    neo4j_settings: Settings
) -> None:
    console = Console(record=True, width=200)
    run_demo(neo4j_settings, console, user="demo-test")
    out = flat(console.export_text())
    assert "extractor: offline" in out
    assert "I prefer window seats" in out
    assert "from 2026-09-03-trip-planning turn s1-m6" in out  # the seat answer's provenance
    assert "pescatarian" in out
    assert "MATCH (c:MemCube {owner: $user})" in out
