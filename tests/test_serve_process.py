"""`graphmem keys` and `graphmem serve --workers 2` as subprocesses: the commands a deployer
runs, over real HTTP, with two worker processes sharing nothing but Neo4j."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import httpx

from graphmem.settings import Settings
from tests.servers import ROOT, server_process


def _env(settings: Settings) -> dict[str, str]:
    return {"GRAPHMEM_NEO4J_URI": settings.neo4j_uri,
            "GRAPHMEM_NEO4J_USER": settings.neo4j_user,
            "GRAPHMEM_NEO4J_PASSWORD": settings.neo4j_password.get_secret_value(),
            "GRAPHMEM_EXTRACTOR": "offline"}


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "graphmem", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=120,
                          env={**os.environ, **_env(settings), "PYTHONPATH": str(ROOT)})


def test_keys_cli_and_two_workers(neo4j_settings: Settings) -> None:
    name = f"w{uuid.uuid4().hex[:8]}"
    made = _cli(neo4j_settings, "keys", "create", "--principal", f"user:{name}",
                "--label", "worker test")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("gm_") and len(key) == 46 and "shown once" in made.stderr
    listed = json.loads(_cli(neo4j_settings, "keys", "list", "--principal",
                             f"user:{name}", "--json").stdout)
    assert [k["principal"] for k in listed] == [f"user:{name}"]
    assert key not in json.dumps(listed) and "hash" not in listed[0]
    bad = _cli(neo4j_settings, "keys", "create", "--principal", "group:nope")
    assert bad.returncode == 2 and "group cannot act" in bad.stderr

    with server_process(_env(neo4j_settings), "--workers", "2") as url:
        auth = {"Authorization": f"Bearer {key}"}
        pids = set()
        for _ in range(300):  # a new connection each time: the kernel spreads them
            pids.add(httpx.get(f"{url}/healthz").json()["worker"])
            if len(pids) > 1:
                break
        assert len(pids) == 2, "two worker processes answer"
        cube = httpx.post(f"{url}/v1/memories", headers=auth, timeout=60,
                          json={"text": "Written through one worker."}).json()
        seen = {httpx.get(f"{url}/v1/memories/{cube['meta']['id']}", headers=auth,
                          timeout=60).status_code for _ in range(8)}
        assert seen == {200}, "every worker reads what another wrote"
        revoked = _cli(neo4j_settings, "keys", "revoke", listed[0]["id"])
        assert revoked.returncode == 0, revoked.stderr
        after = {httpx.get(f"{url}/v1/whoami", headers=auth).status_code for _ in range(8)}
        assert after == {401}, "a revoked key is refused by every worker at once"
