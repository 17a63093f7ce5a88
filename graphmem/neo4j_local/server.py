"""Run a real Neo4j 5.26 Community server without Docker.

The jars come from Maven Central, resolved once with ``mvn`` into the settings cache dir and
shared by every data dir. The server runs on the local Java 17+ and listens on 127.0.0.1 only.
Its conf, data, logs and pid file live under ``settings.neo4j_data_dir``, so the graph and the
password survive restarts. POSIX only (signals, ``sh``); Windows users have docker/compose.yml.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import neo4j
from neo4j.exceptions import AuthError, DriverError, Neo4jError

from graphmem.errors import GraphMemError
from graphmem.settings import Settings
from graphmem.store.queries import Queries

log = logging.getLogger(__name__)

MIN_JAVA = 17
NEWEST_TESTED_JAVA = 21
DEFAULT_START_TIMEOUT_S = 120.0
DEFAULT_STOP_TIMEOUT_S = 60.0
ENTRY_POINT = "org.neo4j.server.CommunityEntryPoint"
ADMIN_TOOL = "org.neo4j.cli.AdminTool"
MARKER_FILE = ".graphmem-complete.json"
HOST = "127.0.0.1"
CONSOLE_MARKER = "=== graphmem neo4j up"

# What Neo4j's own launcher passes (server.jvm.additional in the stock neo4j.conf), minus
# AlwaysPreTouch, which would make every start touch the whole heap for no gain on a dev box.
JVM_FLAGS: tuple[str, ...] = (
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+UnlockExperimentalVMOptions",
    "-XX:+TrustFinalNonStaticFields",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Djdk.tls.ephemeralDHKeySize=2048",
    "-Djdk.tls.rejectClientInitiatedRenegotiation=true",
    "-Dlog4j2.disable.jmx=true",
    "-Dfile.encoding=UTF-8",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
)

# Backgrounds the JVM from a throwaway shell and prints its pid: the server is then re-parented
# to init, so it outlives the caller and nobody has to reap it (no zombie after `down`, no
# "subprocess still running" warning when the caller is a long-lived Python process).
_TRAMPOLINE = 'log=$1; shift; "$@" >>"$log" 2>&1 </dev/null & echo $!'


class Neo4jLocalError(GraphMemError, RuntimeError):
    """The local server could not be provisioned, started or stopped; the message says why."""


class JavaError(Neo4jLocalError):
    """No usable Java 17+ was found."""


class ProvisionError(Neo4jLocalError):
    """The Neo4j jars could not be resolved from Maven Central."""


class PortInUseError(Neo4jLocalError):
    """Another process already listens on a port the server needs."""

    def __init__(self, port: int, setting: str) -> None:
        self.port = port
        super().__init__(
            f"port {port} on {HOST} is already in use by another process, so Neo4j cannot listen "
            f"there. Stop that process, or choose another port with {setting} "
            "(and point GRAPHMEM_NEO4J_URI at the new Bolt port)."
        )


class StartError(Neo4jLocalError):
    """The server did not come up; the message points at its log."""


class CredentialsError(Neo4jLocalError):
    """The data dir's server rejects the configured user/password."""


@dataclass(frozen=True)
class ServerInfo:
    """What `up` started (or found running), with everything a client needs to connect."""

    pid: int
    bolt_uri: str
    http_url: str
    browser_url: str
    data_dir: Path
    log_path: Path
    version: str
    already_running: bool


@dataclass(frozen=True)
class ServerStatus:
    """A read-only snapshot; `running` means this data dir's own server process is alive."""

    running: bool
    pid: int | None
    bolt_port: int
    http_port: int
    bolt_reachable: bool
    version: str
    data_dir: Path
    log_path: Path

    @property
    def bolt_uri(self) -> str:
        return _bolt_uri(self.bolt_port)

    @property
    def browser_url(self) -> str:
        return f"http://{HOST}:{self.http_port}/browser/"


@dataclass(frozen=True)
class ServerLayout:
    """Where one server's files live: everything under `home` except the shared jars."""

    home: Path
    lib: Path

    @classmethod
    def of(cls, settings: Settings) -> ServerLayout:
        return cls(home=settings.neo4j_data_dir, lib=settings.neo4j_home / "lib")

    @property
    def conf_dir(self) -> Path:
        return self.home / "conf"

    @property
    def conf_file(self) -> Path:
        return self.conf_dir / "neo4j.conf"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def run(self) -> Path:
        return self.home / "run"

    @property
    def pid_file(self) -> Path:
        return self.run / "neo4j.pid"

    @property
    def state_file(self) -> Path:
        return self.run / "graphmem-server.json"

    @property
    def log_path(self) -> Path:
        return self.logs / "neo4j.log"

    @property
    def console_log(self) -> Path:
        return self.logs / "console.log"


@dataclass(frozen=True)
class _RunState:
    """Written next to the pid file so `status` and a second `up` report the ports the running
    server really uses, even if the settings changed since it started."""

    pid: int
    bolt_port: int
    http_port: int
    version: str


# --- public API -----------------------------------------------------------------------------


def up(settings: Settings, timeout_s: float = DEFAULT_START_TIMEOUT_S) -> ServerInfo:
    """Start the local server (provisioning jars on first use) and wait until Bolt accepts the
    configured credentials. Calling it while the server runs just returns its details."""
    layout = ServerLayout.of(settings)
    deadline = time.monotonic() + timeout_s
    layout.run.mkdir(parents=True, exist_ok=True)
    with _locked(layout):
        pid = _running_pid(layout)
        if pid is not None:
            return _attach(settings, layout, pid, deadline)
        _clear_run_files(layout)
        return _start(settings, layout, deadline)


def down(settings: Settings, timeout_s: float = DEFAULT_STOP_TIMEOUT_S) -> bool:
    """Stop this data dir's server: SIGTERM so Neo4j checkpoints and closes the store cleanly,
    SIGKILL only if it has not exited after `timeout_s`. Returns whether a server was stopped."""
    layout = ServerLayout.of(settings)
    if not layout.run.is_dir():
        log.info("Neo4j in %s is not running", layout.home)
        return False
    with _locked(layout):
        pid = _running_pid(layout)
        if pid is None:
            _clear_run_files(layout)
            log.info("Neo4j in %s is not running", layout.home)
            return False
        log.info("stopping Neo4j (pid %d)", pid)
        _terminate(pid, timeout_s)
        _clear_run_files(layout)
        log.info("Neo4j stopped")
        return True


def status(settings: Settings) -> ServerStatus:
    """Report without changing anything (stale pid files are left for `up`/`down` to clean)."""
    layout = ServerLayout.of(settings)
    pid = _running_pid(layout)
    state = _read_state(layout) if pid is not None else None
    bolt_port = state.bolt_port if state else settings.neo4j_bolt_port
    http_port = state.http_port if state else settings.neo4j_http_port
    return ServerStatus(
        running=pid is not None,
        pid=pid,
        bolt_port=bolt_port,
        http_port=http_port,
        bolt_reachable=bolt_answers(bolt_port),
        version=state.version if state else settings.neo4j_version,
        data_dir=layout.home,
        log_path=layout.log_path,
    )


def bolt_answers(port: int, host: str = HOST, timeout_s: float = 1.0) -> bool:
    """True when something speaking Bolt listens on host:port. A raw handshake, not a login, so
    it tells "server up" apart from "wrong password" and works for servers we did not start."""
    handshake = bytes.fromhex("6060b017") + bytes.fromhex("0008080500000404" + "00" * 8)
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(handshake)
            reply = sock.recv(4)
    except OSError:
        return False
    return len(reply) == 4


def check_port_free(port: int, setting: str) -> None:
    """Fail before launching: Neo4j's own bind error would surface only in its log, seconds
    later. SO_REUSEADDR so a port left in TIME_WAIT by our previous run still counts as free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            raise PortInUseError(port, setting) from exc


# --- Java -----------------------------------------------------------------------------------


def find_java() -> Path:
    """JAVA_HOME first, as Maven and Neo4j's own scripts do, so a machine with several JDKs uses
    the one its owner chose; otherwise `java` on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if candidate.is_file():
            return candidate
        raise JavaError(
            f"JAVA_HOME={java_home} has no bin/java. Point JAVA_HOME at a Java {MIN_JAVA}+ "
            "installation, or unset it to use `java` from PATH."
        )
    found = shutil.which("java")
    if found is None:
        raise JavaError(
            f"Neo4j needs Java {MIN_JAVA} or newer, but JAVA_HOME is unset and there is no "
            "`java` on PATH. Install one (e.g. `apt-get install openjdk-17-jre-headless`) "
            "or run Neo4j with Docker instead (docker/compose.yml)."
        )
    return Path(found)


def java_major_version(java: Path) -> int:
    """Parse `java -version`; handles both "17.0.15" and the pre-9 "1.8.0_392" scheme."""
    try:
        proc = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError as exc:
        raise JavaError(f"could not run {java}: {exc}") from exc
    match = re.search(r'version "(\d+)(?:\.(\d+))?', proc.stderr + proc.stdout)
    if match is None:
        raise JavaError(f"could not tell the version of {java}: {proc.stderr.strip()[:300]}")
    major = int(match.group(1))
    if major == 1 and match.group(2):
        major = int(match.group(2))
    return major


def require_java() -> Path:
    """The Java binary to use, or a JavaError that says how to get a suitable one."""
    java = find_java()
    major = java_major_version(java)
    if major < MIN_JAVA:
        raise JavaError(
            f"{java} is Java {major}, but Neo4j 5.26 needs Java {MIN_JAVA} or newer. "
            f"Set JAVA_HOME to a Java {MIN_JAVA}+ installation."
        )
    if major > NEWEST_TESTED_JAVA:
        log.warning("Java %d is newer than Neo4j 5.26 supports officially (17, 21)", major)
    log.debug("using Java %d at %s", major, java)
    return java


# --- jars -----------------------------------------------------------------------------------


def jars_ready(settings: Settings) -> bool:
    """True when a previous resolve finished for exactly these versions (the marker is written
    last, so a copy interrupted half-way never counts as complete)."""
    lib = ServerLayout.of(settings).lib
    try:
        marker = json.loads((lib / MARKER_FILE).read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(marker, dict) or marker.get("versions") != _versions(settings):
        return False
    jars = marker.get("jars")
    return isinstance(jars, list) and bool(jars) and all((lib / str(j)).is_file() for j in jars)


def ensure_jars(settings: Settings) -> Path:
    """The lib dir with every server jar, resolving it with mvn only when it is not complete."""
    lib = ServerLayout.of(settings).lib
    if jars_ready(settings):
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ProvisionError(
            f"the Neo4j {settings.neo4j_version} jars are not in {lib} yet and downloading them "
            "needs Maven (`mvn`), which is not on PATH. Install it (e.g. `apt-get install maven`) "
            "or run Neo4j with Docker instead (docker/compose.yml)."
        )
    staging = lib.with_name(f"lib.staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        _resolve_with_maven(Path(mvn), settings, staging)
        try:
            _install_lib(staging, lib, settings)
        except OSError:
            if not jars_ready(settings):  # else a concurrent `up` installed the same jars first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return lib


def _versions(settings: Settings) -> dict[str, str]:
    return {"neo4j": settings.neo4j_version, "neo4j-browser": settings.neo4j_browser_version}


def _resolve_with_maven(mvn: Path, settings: Settings, out_dir: Path) -> None:
    log.info(
        "resolving Neo4j %s and Neo4j Browser %s from Maven Central into %s",
        settings.neo4j_version,
        settings.neo4j_browser_version,
        out_dir.parent,
    )
    started = time.monotonic()
    pom_ref = resources.files("graphmem.neo4j_local") / "pom.xml"
    with resources.as_file(pom_ref) as pom:
        cmd = [
            str(mvn),
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={out_dir}",
            f"-Dmaven.repo.local={settings.cache_dir / 'm2'}",
            f"-Dneo4j.version={settings.neo4j_version}",
            f"-Dneo4j.browser.version={settings.neo4j_browser_version}",
        ]
        _run_maven(cmd)
    count = len(list(out_dir.glob("*.jar")))
    if count == 0:
        raise ProvisionError(f"mvn finished but copied no jars into {out_dir}")
    log.info("resolved %d jars in %.0f s", count, time.monotonic() - started)


def _run_maven(cmd: list[str]) -> None:
    """Stream mvn's output into the log: a cold cache takes a while, and silence looks hung."""
    tail: deque[str] = deque(maxlen=30)
    downloads = copies = 0
    log.debug("running %s", " ".join(cmd))
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip()
            tail.append(line)
            log.debug("mvn: %s", line)
            if "Downloaded from" in line:
                downloads += 1
                if downloads % 50 == 0:
                    log.info("mvn: %d artifacts downloaded so far", downloads)
            elif "Copying " in line:
                copies += 1
                if copies % 50 == 0:
                    log.info("mvn: %d jars copied so far", copies)
        rc = proc.wait()
    if rc != 0:
        output = "\n".join(tail)
        raise ProvisionError(f"mvn failed (exit {rc}) resolving the Neo4j jars:\n{output}")


def _install_lib(staging: Path, lib: Path, settings: Settings) -> None:
    """Swap the fresh copy in. An identical existing lib is kept in place and only marked,
    because a server may be running from it right now."""
    jars = sorted(p.name for p in staging.glob("*.jar"))
    marker = json.dumps({"versions": _versions(settings), "jars": jars}, indent=2)
    if lib.is_dir() and _jar_sizes(lib) == _jar_sizes(staging):
        (lib / MARKER_FILE).write_text(marker)
        return
    (staging / MARKER_FILE).write_text(marker)
    if lib.exists():
        old = lib.with_name(f"lib.old-{os.getpid()}")
        lib.rename(old)
        staging.rename(lib)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(lib)


def _jar_sizes(directory: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in directory.glob("*.jar")}


def _classpath(lib: Path) -> str:
    # Java expands "dir/*" itself, which keeps the command line short (200+ jars).
    return f"{lib}{os.sep}*"


# --- configuration --------------------------------------------------------------------------


def render_conf(settings: Settings, layout: ServerLayout) -> str:
    """neo4j.conf for a private dev server: loopback only, auth on, and nothing that phones
    home (usage reports, Browser/Bloom product analytics)."""
    bolt = f"{HOST}:{settings.neo4j_bolt_port}"
    http = f"{HOST}:{settings.neo4j_http_port}"
    values = {
        "server.default_listen_address": HOST,
        "server.default_advertised_address": HOST,
        "server.bolt.enabled": "true",
        "server.bolt.listen_address": bolt,
        "server.bolt.advertised_address": bolt,
        "server.http.enabled": "true",
        "server.http.listen_address": http,
        "server.http.advertised_address": http,
        "server.https.enabled": "false",
        "server.directories.data": str(layout.data),
        "server.directories.logs": str(layout.logs),
        "server.directories.run": str(layout.run),
        "server.directories.plugins": str(layout.home / "plugins"),
        "server.directories.import": str(layout.home / "import"),
        "dbms.security.auth_enabled": "true",
        "server.memory.heap.initial_size": settings.neo4j_heap,
        "server.memory.heap.max_size": settings.neo4j_heap,
        "server.memory.pagecache.size": settings.neo4j_pagecache,
        "dbms.usage_report.enabled": "false",
        "client.allow_telemetry": "false",
        # Netty waits this many quiet seconds per Bolt event loop group on shutdown (default 5,
        # twice); a dev server with no clients left has nothing to wait for.
        "internal.dbms.bolt.netty_server_shutdown_quiet_period": "0",
        # Internal (unsupported) settings of Neo4j 5.26's Lucene vector indexes, for updates
        # and for a build over existing nodes; the fulltext indexes already merge at 2.
        "internal.dbms.index.vector.standard_merge_factor": str(settings.neo4j_vector_merge_factor),
        "internal.dbms.index.vector.population_merge_factor":
            str(settings.neo4j_vector_merge_factor),
        # Plan a statement once, whatever the length of its lists and strings (internal,
        # 5.26). With size hints on (the default), a plan is cached per parameter length
        # rounded up to a power of ten, so an add whose lists or texts changed length was
        # planned again, about half a second each for its five-file statement: 31 and 10 of a
        # cold server's first 200 adds took over 250 ms in two runs, against 2 and 4 without
        # (benchmarks/README.md, stop 23). Every statement GraphMem sends kept its plan.
        "internal.cypher.use_parameter_size": "false",
    }
    header = (
        "# Written by graphmem (graphmem.neo4j_local) on every start; edits are overwritten.\n"
        "# Change GRAPHMEM_NEO4J_* settings instead.\n"
    )
    return header + "".join(f"{key}={value}\n" for key, value in values.items())


def _prepare_home(settings: Settings, layout: ServerLayout) -> None:
    for directory in (layout.conf_dir, layout.data, layout.logs, layout.run):
        directory.mkdir(parents=True, exist_ok=True)
    for name in ("plugins", "import"):
        (layout.home / name).mkdir(exist_ok=True)
    layout.conf_file.write_text(render_conf(settings, layout))


def _is_first_start(layout: ServerLayout) -> bool:
    return not (layout.data / "databases" / "system").exists()


def _set_initial_password(java: Path, settings: Settings, layout: ServerLayout) -> None:
    """Before the first start only, so the server never runs with the well-known neo4j/neo4j
    login and needs no forced password change. The password goes in a 0600 picocli @-file
    rather than argv, where `ps` would show it."""
    args_file = layout.run / "set-initial-password.args"
    password = settings.neo4j_password.get_secret_value()
    quoted = '"' + password.replace("\\", "\\\\").replace('"', '\\"') + '"'
    fd = os.open(args_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(f"dbms\nset-initial-password\n{quoted}\n")
    env = {**os.environ, "NEO4J_HOME": str(layout.home), "NEO4J_CONF": str(layout.conf_dir)}
    cmd = [str(java), "-Dfile.encoding=UTF-8", "-cp", _classpath(layout.lib), ADMIN_TOOL]
    try:
        proc = subprocess.run(
            [*cmd, f"@{args_file}"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
    finally:
        args_file.unlink(missing_ok=True)
    if proc.returncode != 0:
        detail = _without_stack_frames(proc.stderr or proc.stdout)
        raise StartError(f"neo4j-admin could not set the initial password: {detail}")
    log.info("set the initial password of user 'neo4j' for the new database in %s", layout.data)


# --- process management ---------------------------------------------------------------------


def _start(settings: Settings, layout: ServerLayout, deadline: float) -> ServerInfo:
    java = require_java()
    check_port_free(settings.neo4j_bolt_port, "GRAPHMEM_NEO4J_BOLT_PORT")
    check_port_free(settings.neo4j_http_port, "GRAPHMEM_NEO4J_HTTP_PORT")
    ensure_jars(settings)
    _prepare_home(settings, layout)
    if _is_first_start(layout):
        _set_initial_password(java, settings, layout)
    pid = _spawn(java, settings, layout)
    state = _RunState(
        pid, settings.neo4j_bolt_port, settings.neo4j_http_port, settings.neo4j_version
    )
    _write_run_files(layout, state)
    log.info(
        "started Neo4j %s (pid %d), waiting for Bolt on %s", state.version, pid, state.bolt_port
    )
    try:
        _wait_until_ready(settings, layout, state, deadline)
    except BaseException:
        _terminate(pid, DEFAULT_STOP_TIMEOUT_S)
        _clear_run_files(layout)
        raise
    log.info("Neo4j is ready: %s (Browser %s)", _bolt_uri(state.bolt_port), _browser(state))
    _warn_if_uri_elsewhere(settings, state.bolt_port)
    return _info(layout, state, already_running=False)


def _attach(settings: Settings, layout: ServerLayout, pid: int, deadline: float) -> ServerInfo:
    """A second `up`: reuse the running server rather than fail, but refuse to pretend it
    listens on other ports than it does."""
    state = _read_state(layout) or _RunState(
        pid, settings.neo4j_bolt_port, settings.neo4j_http_port, settings.neo4j_version
    )
    wanted = (settings.neo4j_bolt_port, settings.neo4j_http_port, settings.neo4j_version)
    if (state.bolt_port, state.http_port, state.version) != wanted:
        raise Neo4jLocalError(
            f"Neo4j {state.version} from {layout.home} is already running (pid {pid}) on Bolt "
            f"{state.bolt_port} / HTTP {state.http_port}, not the configured Neo4j "
            f"{wanted[2]} on {wanted[0]} / {wanted[1]}. Run `graphmem neo4j down` first."
        )
    _wait_until_ready(settings, layout, state, deadline)
    log.info("Neo4j already running (pid %d) at %s", pid, _bolt_uri(state.bolt_port))
    _warn_if_uri_elsewhere(settings, state.bolt_port)
    return _info(layout, state, already_running=True)


def _spawn(java: Path, settings: Settings, layout: ServerLayout) -> int:
    cmd = [
        str(java),
        *JVM_FLAGS,
        f"-Xms{settings.neo4j_heap}",
        f"-Xmx{settings.neo4j_heap}",
        "-cp",
        _classpath(layout.lib),
        ENTRY_POINT,
        f"--home-dir={layout.home}",
        f"--config-dir={layout.conf_dir}",
    ]
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    with layout.console_log.open("a", encoding="utf-8") as fh:
        fh.write(f"\n{CONSOLE_MARKER} {stamp} ===\n")
    proc = subprocess.run(
        ["sh", "-c", _TRAMPOLINE, "graphmem-neo4j", str(layout.console_log), *cmd],
        cwd=layout.home,
        capture_output=True,
        text=True,
        start_new_session=True,
        timeout=30,
        check=False,
    )
    try:
        return int(proc.stdout.strip())
    except ValueError as exc:
        raise StartError(f"could not launch Java: {proc.stderr.strip()}") from exc


def _wait_until_ready(
    settings: Settings, layout: ServerLayout, state: _RunState, deadline: float
) -> None:
    uri = _bolt_uri(state.bolt_port)
    auth = (settings.neo4j_user, settings.neo4j_password.get_secret_value())
    last_error = "no answer yet"
    repaired = False
    while True:
        if not _is_alive(state.pid):
            raise StartError(
                f"Neo4j (pid {state.pid}) exited during startup. See {layout.log_path} and "
                f"{layout.console_log}; last lines:\n{_log_tail(layout)}"
            )
        try:
            _verify(uri, auth, settings.neo4j_connect_timeout_s)
        except AuthError as exc:
            if repaired:
                raise _credentials_error(settings, layout) from exc
            _repair_credentials(settings, layout, uri)
            repaired = True
            continue
        except (DriverError, Neo4jError, OSError) as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        else:
            # Bolt comes up about a second before HTTP; callers expect the Browser to work too.
            if _http_answers(state.http_port):
                return
            last_error = f"HTTP port {state.http_port} not answering yet"
        if time.monotonic() >= deadline:
            raise StartError(
                f"Neo4j (pid {state.pid}) did not answer on {uri} in time (last error: "
                f"{last_error}). See {layout.log_path}; last lines:\n{_log_tail(layout)}"
            )
        time.sleep(0.5)


def _http_answers(port: int) -> bool:
    # No proxies: an http_proxy from the environment must not intercept a loopback probe.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://{HOST}:{port}/", timeout=2.0) as response:
            return 200 <= int(response.status) < 300
    except (OSError, ValueError):
        return False


def _verify(uri: str, auth: tuple[str, str], timeout_s: float) -> None:
    with neo4j.GraphDatabase.driver(uri, auth=auth, connection_timeout=timeout_s) as driver:
        driver.verify_connectivity()


def _repair_credentials(settings: Settings, layout: ServerLayout, uri: str) -> None:
    """Only reached for data dirs whose first start did not go through `up`: claim the stock
    neo4j/neo4j admin with the configured password, and create the configured user if it is
    not `neo4j` (the only user set-initial-password knows about)."""
    password = settings.neo4j_password.get_secret_value()
    timeout = settings.neo4j_connect_timeout_s
    if settings.neo4j_user == "neo4j" or not _can_login(uri, ("neo4j", password), timeout):
        _claim_default_admin(settings, layout, uri)
    if settings.neo4j_user != "neo4j":
        with neo4j.GraphDatabase.driver(uri, auth=("neo4j", password)) as driver:
            result = driver.execute_query(
                Queries()["admin/create_user"],
                user=settings.neo4j_user,
                password=password,
                database_="system",
            )
        if result.summary.counters.system_updates:
            log.info("created Neo4j user %r", settings.neo4j_user)


def _claim_default_admin(settings: Settings, layout: ServerLayout, uri: str) -> None:
    password = settings.neo4j_password.get_secret_value()
    try:
        with neo4j.GraphDatabase.driver(uri, auth=("neo4j", "neo4j")) as driver:
            driver.execute_query(
                Queries()["admin/claim_default_admin"],
                old="neo4j",
                new=password,
                database_="system",
            )
    except AuthError as exc:
        raise _credentials_error(settings, layout) from exc
    log.info("replaced the default password of user 'neo4j' with the configured one")


def _credentials_error(settings: Settings, layout: ServerLayout) -> CredentialsError:
    return CredentialsError(
        f"Neo4j in {layout.home} rejects user {settings.neo4j_user!r} with the configured "
        "password (GRAPHMEM_NEO4J_PASSWORD): its database was set up with another one. Use "
        f"that password, or stop the server and delete {layout.data} to start empty."
    )


def _can_login(uri: str, auth: tuple[str, str], timeout_s: float) -> bool:
    try:
        _verify(uri, auth, timeout_s)
    except AuthError:
        return False
    return True


def _terminate(pid: int, timeout_s: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if _wait_for_exit(pid, timeout_s):
        return
    log.warning("Neo4j (pid %d) still running after %.0f s; sending SIGKILL", pid, timeout_s)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if not _wait_for_exit(pid, 10.0):
        raise Neo4jLocalError(f"Neo4j (pid {pid}) survived SIGKILL")


def _wait_for_exit(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while _is_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


def _is_alive(pid: int) -> bool:
    """Zombies count as dead: an exited JVM whose parent has not reaped it yet holds no ports."""
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _process_field(pid, "stat") not in {"Z", "X"}


def _process_field(pid: int, field: str) -> str:
    """`stat` (state letter) or `args` of a process, from /proc on Linux and ps elsewhere."""
    proc_dir = Path("/proc") / str(pid)
    try:
        if field == "args":
            return (
                (proc_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            )
        return (proc_dir / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        pass
    result = subprocess.run(
        ["ps", "-o", f"{field}=", "-p", str(pid)], capture_output=True, text=True, check=False
    )
    value = result.stdout.strip()
    return value[:1] if field == "stat" else value


def _is_our_server(pid: int, layout: ServerLayout) -> bool:
    """Guards against pid reuse: only a Neo4j JVM started on this very home dir is ours."""
    args = _process_field(pid, "args")
    return ENTRY_POINT in args and f"--home-dir={layout.home}" in args


def _running_pid(layout: ServerLayout) -> int | None:
    try:
        pid = int(layout.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    if pid > 0 and _is_alive(pid) and _is_our_server(pid, layout):
        return pid
    return None


@contextlib.contextmanager
def _locked(layout: ServerLayout) -> Iterator[None]:
    """One `up`/`down` at a time per data dir, so two concurrent `up`s cannot start two JVMs."""
    with (layout.run / "graphmem.lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _write_run_files(layout: ServerLayout, state: _RunState) -> None:
    layout.pid_file.write_text(f"{state.pid}\n")
    layout.state_file.write_text(json.dumps(state.__dict__))


def _read_state(layout: ServerLayout) -> _RunState | None:
    try:
        raw = json.loads(layout.state_file.read_text())
        return _RunState(
            pid=int(raw["pid"]),
            bolt_port=int(raw["bolt_port"]),
            http_port=int(raw["http_port"]),
            version=str(raw["version"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _clear_run_files(layout: ServerLayout) -> None:
    layout.pid_file.unlink(missing_ok=True)
    layout.state_file.unlink(missing_ok=True)


# --- small helpers --------------------------------------------------------------------------


def _bolt_uri(port: int) -> str:
    return f"bolt://{HOST}:{port}"


def _browser(state: _RunState) -> str:
    return f"http://{HOST}:{state.http_port}/browser/"


def _info(layout: ServerLayout, state: _RunState, *, already_running: bool) -> ServerInfo:
    return ServerInfo(
        pid=state.pid,
        bolt_uri=_bolt_uri(state.bolt_port),
        http_url=f"http://{HOST}:{state.http_port}/",
        browser_url=_browser(state),
        data_dir=layout.home,
        log_path=layout.log_path,
        version=state.version,
        already_running=already_running,
    )


def _warn_if_uri_elsewhere(settings: Settings, bolt_port: int) -> None:
    """The server listens where the *port* settings say; clients connect where the URI says.
    A mismatch means the rest of GraphMem will not find this server, so say so early."""
    parts = urlsplit(settings.neo4j_uri)
    if parts.hostname in {HOST, "localhost"} and parts.port == bolt_port:
        return
    log.warning(
        "GRAPHMEM_NEO4J_URI is %s but the local server listens on %s; "
        "set GRAPHMEM_NEO4J_URI=%s to use it",
        settings.neo4j_uri,
        _bolt_uri(bolt_port),
        _bolt_uri(bolt_port),
    )


def _without_stack_frames(text: str, keep: int | None = 10) -> str:
    """Java's message lines without the "at ..." frames, which bury the actual reason."""
    frame = re.compile(r"^\s+(at |\.\.\. \d+ more)")
    lines = [ln for ln in text.strip().splitlines() if not frame.match(ln)]
    return "\n".join(lines[:keep])


def _log_tail(layout: ServerLayout, lines: int = 12) -> str:
    """The end of both logs; console.log only since the latest start, as it holds the JVM's own
    errors (bad flags, config parse failures) that never reach neo4j.log."""
    chunks = []
    for path in (layout.log_path, layout.console_log):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if path == layout.console_log:
            text = text.rpartition(CONSOLE_MARKER)[2].partition("\n")[2]
        tail = _without_stack_frames(text, keep=None).splitlines()[-lines:]
        if tail:
            chunks.append(f"--- {path} ---\n" + "\n".join(tail))
    return "\n".join(chunks) or "(nothing logged)"
