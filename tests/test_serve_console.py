"""The web console in headless Chromium (the Debian `chromium` package; `make system` installs
it): the page served by the REST server signs in with a key, loads the principal's cubes,
a cube's versions and source turns, the audit trail, and a search with each hit's retriever
scores; the rendered DOM is checked after the page's script ran. With GRAPHMEM_SCREENSHOTS=1
the screenshot is written to docs/img/console.png (otherwise to a temporary directory)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from graphmem.embeddings import SentenceTransformerEmbedder
from graphmem.settings import Settings
from tests.servers import ROOT, client, make_key, server_thread

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and os.environ.get("CI"):
    raise RuntimeError("CI needs chromium for the console test: run `make system`")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium: run `make system`")


@pytest.fixture(scope="module")
def url(neo4j_settings: Settings, embedder: SentenceTransformerEmbedder) -> Iterator[str]:
    settings = neo4j_settings.model_copy(update={"extractor": "offline"})
    with server_thread(settings, embedder) as base:
        yield base


def _chromium(*args: str) -> str:
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--hide-scrollbars", "--virtual-time-budget=20000", "--window-size=1400,1000",
         *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _seed(c: httpx.Client) -> str:
    c.post("/v1/add", json={"messages": [
        {"role": "user", "content": "I started learning the cello last spring."}],
        "session_id": "lessons", "infer": False})
    cube = c.post("/v1/memories", json={"text": "Cello lessons are on Tuesdays at 18:00."}
                  ).json()
    c.patch(f"/v1/memories/{cube['meta']['id']}",
            json={"text": "Cello lessons moved to Wednesdays at 18:00.", "reason": "moved"})
    c.post("/v1/memories", json={"text": "I prefer oat milk.", "kind": "preference"})
    return str(cube["meta"]["id"])


def test_console_renders_cubes_history_turns_audit_and_scores(
        url: str, neo4j_settings: Settings, tmp_path: Path) -> None:
    name = f"console{uuid.uuid4().hex[:6]}"
    key = make_key(neo4j_settings, f"user:{name}")
    with client(url, key) as c:
        cube_id = _seed(c)
        episode_cube = next(i["meta"]["id"] for i in c.get("/v1/memories").json()["items"]
                            if i["meta"]["kind"] == "episode")
        page = c.get("/console")
        assert page.status_code == 200 and "script-src 'self'" in page.headers[
            "content-security-policy"]
    link = f"{url}/console#key={key}&q=when+are+cello+lessons"
    dom = _chromium("--dump-dom", f"{link}&cube={cube_id}")
    assert 'data-ready="true"' in dom, dom[-3000:]
    assert f"signed in as user:{name}" in dom
    assert "Cello lessons moved to Wednesdays at 18:00." in dom
    assert "I prefer oat milk." in dom and ">preference<" in dom
    versions = re.search(r'<table id="versions">(.*?)</table>', dom, re.S)
    assert versions and "v1" in versions.group(1) and "v2" in versions.group(1)
    assert "Cello lessons are on Tuesdays at 18:00." in versions.group(1)
    assert f"by user:{name}" in versions.group(1)
    hits = re.findall(r'<tr class="hit">(.*?)</tr>', dom, re.S)
    assert hits and "Wednesdays" in hits[0]
    assert re.search(r"<span>vector \d\.\d{3}</span>", hits[0]), hits[0]
    audit = re.search(r'<tbody id="audit">(.*?)</tbody>', dom, re.S)
    assert audit and ">update<" in audit.group(1) and ">search<" in audit.group(1)
    # The source turns of a cube that came from dialogue.
    dom = _chromium("--dump-dom", f"{url}/console#key={key}&cube={episode_cube}")
    turns = re.search(r'<ul id="turns">(.*?)</ul>', dom, re.S)
    assert turns and "user (session lessons): I started learning the cello" in turns.group(1)
    # Without a key: the sign-in form, and no data.
    dom = _chromium("--dump-dom", f"{url}/console")
    assert '<div id="signin">' in dom and "Cello" not in dom
    shot = (ROOT / "docs" / "img" if os.environ.get("GRAPHMEM_SCREENSHOTS") else tmp_path)
    shot.mkdir(parents=True, exist_ok=True)
    _chromium(f"--screenshot={shot / 'console.png'}", f"{link}&cube={cube_id}")
    assert (shot / "console.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
