"""
Run the benchmark: every app under every workload, a few times, and report.

``bench/run`` is the entry point (it builds ``bench/.venv`` first); this module
is what it runs, as ``python -m bench.runner`` from the repository root.

For each repetition, for each workload, for each app: start the app on uvicorn
(pinned to the server core) on a free port of 127.0.0.1, wait until it listens,
run the load client (pinned to the client core) or ``wrk`` against it, stop the
server by PID. Every app gets a fresh server for every measurement. Figures are
then summarised as medians with min-max over repetitions, and as ratios to the
floor app measured in the same repetition, in ``bench/results/``.

An app that cannot run (django-wsviews not importable yet, its groups API not
built, Redis down, ...) is reported as skipped or failed with the reason; the
other apps are measured all the same.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib.metadata
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import scale, targets
from bench.procstat import CpuWindow, busy_cpu_seconds
from bench.servers import SERVERS, measured_pid, server_command, server_flags

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
HOST = "127.0.0.1"  # all load goes to loopback, and only there
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

# The servers' command lines (uvicorn, and granian with --server granian)
# are in bench/servers.py.


# --- What is measured -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class App:
    key: str
    label: str
    asgi: str  # "module:attribute", as uvicorn takes it
    settings: str | None = None  # DJANGO_SETTINGS_MODULE, for Django apps
    # The group layers it can broadcast through.
    layers: tuple[str, ...] = ("memory", "redis")
    # Extra Python run by the preflight check for broadcast workloads (after
    # importing the app), for APIs the app's module only imports lazily.
    group_check: str | None = None


# The same checks django-wsviews makes when a group is first used: abroadcast
# imports, and WSVIEWS_BACKEND names a backend that loads with its options.
WSVIEWS_GROUP_CHECK = """
from bench.apps.wsviews_project.views import abroadcast
assert abroadcast, "no abroadcast in django_wsviews or django_wsviews.groups"
from django_wsviews.backends import get_backend_config
get_backend_config()
"""

RAW = App("raw", "raw ASGI (floor)", "bench.apps.raw:app")
WS_APPS = [
    RAW,
    App(
        "wsviews-bare",
        "django-wsviews, bare (no middleware, no Origin check)",
        "bench.apps.wsviews_project.asgi:application",
        "bench.apps.wsviews_project.settings_bare",
        layers=("memory", "redis", "postgres"),
        group_check=WSVIEWS_GROUP_CHECK,
    ),
    App(
        "wsviews",
        "django-wsviews, startproject MIDDLEWARE + Origin check",
        "bench.apps.wsviews_project.asgi:application",
        "bench.apps.wsviews_project.settings",
        layers=("memory", "redis", "postgres"),
        group_check=WSVIEWS_GROUP_CHECK,
    ),
    App(
        "channels",
        "Channels 4.3, AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter))",
        "bench.apps.channels_project.asgi:application",
        "bench.apps.channels_project.settings",
    ),
    App(
        "starlette",
        "Starlette WebSocketEndpoint",
        "bench.apps.starlette_app:app",
        layers=("memory",),
    ),
]
HTTP_APPS = [
    RAW,
    App(
        "django",
        "Django, django.core.asgi.get_asgi_application()",
        "bench.apps.wsviews_project.asgi_django:application",
        "bench.apps.wsviews_project.settings",
    ),
    App(
        "wsviews",
        "Django, django_wsviews.asgi.get_asgi_application()",
        "bench.apps.wsviews_project.asgi:application",
        "bench.apps.wsviews_project.settings",
    ),
]


@dataclasses.dataclass(frozen=True)
class Metric:
    key: str  # key in the client's (or wrk's) result
    label: str
    digits: int = 0  # decimals shown
    cpu: bool = False  # a CPU share: shown as a plain median, no ratio
    ratio: bool = True  # False: a count or size whose ratio to the floor means nothing


ROUND_TRIP_METRICS = [Metric("p50_ms", "p50 ms", 2), Metric("p99_ms", "p99 ms", 2)]
CPU_METRICS = [
    Metric("server_cpu", "server CPU %", cpu=True),
    Metric("client_cpu", "client CPU %", cpu=True),
    # Everything else on the machine meanwhile: should be near 0.
    Metric("other_cpu", "other CPU %", cpu=True),
]


@dataclasses.dataclass
class Workload:
    key: str
    title: str
    kind: str  # a bench.client workload, or "http"
    apps: list[App]
    metrics: list[Metric]
    connections: int
    path: str = "/ws/echo/"
    layer: str = "none"  # BENCH_LAYER for the servers
    saturating: bool = False  # the floor should keep its core busy (headroom check)
    note: str = ""
    # The scale workloads (bench/scale.py) run other clients, servers of
    # several workers, or with compression on or off.
    client_module: str = "bench.client"
    client_args: tuple[str, ...] = ()
    budget: float = 0.0  # seconds the client may take beyond warm-up + duration + 120
    workers: int = 1
    compression: bool | None = None  # uvicorn's --ws-per-message-deflate; None: default
    # Descriptors a run needs (server and client each): checked against ulimit -n.
    descriptors: int = 0
    once: bool = False  # run in the first repetition only (the scale workloads)


def build_workloads(cfg: argparse.Namespace) -> list[Workload]:
    workloads: list[Workload] = []
    wanted = set(cfg.workloads)
    if "echo" in wanted:
        for n in cfg.echo_connections:
            workloads.append(
                Workload(
                    f"echo-{n}",
                    f"Echo, {n} connection{'s' if n != 1 else ''}",
                    "echo",
                    WS_APPS,
                    [Metric("msgs_per_s", "msgs/s"), *ROUND_TRIP_METRICS, *CPU_METRICS],
                    n,
                    saturating=n > 1,
                    note=f"{cfg.payload_size}-byte text messages; each connection sends the next "
                    "message when the echo of the previous one arrives.",
                )
            )
    if "handshake" in wanted:
        workloads.append(
            Workload(
                "handshake",
                f"Handshakes, {cfg.handshake_workers} workers",
                "handshake",
                WS_APPS,
                [
                    Metric("handshakes_per_s", "handshakes/s"),
                    *ROUND_TRIP_METRICS,
                    *CPU_METRICS,
                ],
                cfg.handshake_workers,
                saturating=True,
                note="Each cycle: open a connection, one echo, close handshake. Latency is per cycle.",
            )
        )
    if "idle" in wanted:
        workloads.append(
            Workload(
                "idle",
                f"Memory, {cfg.idle_connections:,} idle connections",
                "idle",
                WS_APPS,
                [
                    Metric("accepted", "accepted", ratio=False),
                    Metric("refused", "refused", ratio=False),
                    Metric("kib_per_conn", "KiB/conn", 1),
                    Metric("rss_before_mib", "RSS before MiB", 1),
                ],
                cfg.idle_connections,
                note="(server RSS after - before) / accepted connections, each connection "
                "having done one echo; RSS read from /proc/PID/status. All must be accepted.",
                descriptors=cfg.idle_connections,
            )
        )
    if "broadcast" in wanted:
        for layer, what in (("memory", "in-memory"), ("redis", "Redis")):
            workloads.append(
                Workload(
                    f"broadcast-{layer}",
                    f"Broadcast to {cfg.broadcast_members:,} members, {what}",
                    "broadcast",
                    [app for app in WS_APPS if layer in app.layers],
                    [
                        Metric("ms", "ms to last member", 2),
                        Metric("ms_min", "fastest ms", 2),
                    ],
                    cfg.broadcast_members,
                    path="/ws/group/",
                    layer=layer,
                    note=f"Median of {cfg.broadcast_rounds} broadcasts, from sending the trigger "
                    "to the last member receiving it. "
                    + (
                        "Floor: Redis PUBLISH + one subscriber fanning out; Channels: "
                        "channels_redis RedisChannelLayer; django-wsviews: its RedisBackend."
                        if layer == "redis"
                        else "Floor and Starlette: a process-wide set of connections; Channels: "
                        "InMemoryChannelLayer; django-wsviews: its MemoryBackend."
                    ),
                )
            )
    if "http" in wanted:
        workloads.append(
            Workload(
                "http",
                f"HTTP, tiny Django view, {cfg.http_connections} connections (wrk)",
                "http",
                HTTP_APPS,
                [Metric("req_per_s", "requests/s"), *ROUND_TRIP_METRICS, *CPU_METRICS],
                cfg.http_connections,
                path="/hello/",
                saturating=True,
                note="GET /hello/ (an async view returning 12 bytes) through the startproject "
                "MIDDLEWARE; the floor answers any request itself.",
            )
        )
    workloads += scale.build_workloads(cfg, Workload, Metric, WS_APPS)
    return workloads


# --- Running servers and clients -----------------------------------------------------


class Failed(Exception):
    """This app could not be measured under this workload; the message says why."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


def redact(text: str) -> str:
    """Put placeholders for this machine's paths, so results and logs can be shared."""
    places = {
        str(Path(sys.prefix)): "<venv>",
        str(REPO_ROOT): "<repo>",
        str(Path(sys.base_prefix)): "<python>",
        str(Path.home()): "~",
    }
    for path in sorted(places, key=len, reverse=True):  # the venv lives inside the repo
        text = text.replace(path, places[path])
    return text


def last_error_line(text: str) -> str:
    """The line of a traceback or log worth quoting in a table cell."""
    lines = [line.strip() for line in redact(text).strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if re.match(r"^[\w.]+(Error|Exception|Failed)\b", line) or "Error:" in line:
            return line
    return lines[-1] if lines else "(no output)"


def server_env(app: App, layer: str, cfg: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])
    )
    env["BENCH_LAYER"] = layer
    env["BENCH_REDIS_URL"] = cfg.redis_url
    if app.settings:
        env["DJANGO_SETTINGS_MODULE"] = app.settings
    else:
        env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


class Server:
    """One uvicorn process serving one app, pinned to the server core."""

    def __init__(
        self, app: App, workload: Workload, cfg: argparse.Namespace, log: Path
    ) -> None:
        self.app, self.workload, self.cfg, self.log = app, workload, cfg, log
        self.layer = workload.layer
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.measured: int | None = None

    def __enter__(self) -> Server:
        cmd = [
            "taskset", "-c", scale.server_cores(self.cfg, self.workload), sys.executable,
            *server_command(
                self.cfg.server, self.app.asgi, HOST, self.port,
                workers=self.workload.workers,
                compression=self.workload.compression,
            ),
        ]  # fmt: skip
        with open(self.log, "ab") as log:
            # taskset execs the interpreter, so this PID is the server's own:
            # the one whose CPU and RSS the client reads.
            self.proc = subprocess.Popen(
                cmd,
                cwd=REPO_ROOT,
                env=server_env(self.app, self.layer, self.cfg),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_listening(timeout=60)
            # taskset execs the interpreter, so this is the server's own PID;
            # granian's is its supervisor, whose worker child is measured.
            self.measured = measured_pid(self.cfg.server, self.proc.pid)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        """The process whose CPU and memory are read: the server's worker."""
        assert self.proc is not None
        return self.measured or self.proc.pid

    def _wait_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Failed(
                    f"server exited at startup: {last_error_line(tail(self.log))}"
                )
            try:
                socket.create_connection((HOST, self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise Failed(f"server not listening after {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # by PID: only the process we started
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log.exists():
            self.log.write_text(redact(self.log.read_text(errors="replace")))

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise Failed(
                f"server died during the run: {last_error_line(tail(self.log))}"
            )


def run_client(workload: Workload, server: Server, cfg: argparse.Namespace) -> dict:
    """Run the workload's load client on the client core; its result, or raise Failed."""
    args = [
        "taskset", "-c", str(cfg.client_core),
        sys.executable, "-m", workload.client_module, workload.kind,
        "--url", f"ws://{HOST}:{server.port}{workload.path}",
        "--connections", str(workload.connections),
        "--server-pid", str(server.pid),
        *(workload.client_args or (
            "--warmup", str(cfg.warmup),
            "--duration", str(cfg.duration),
            "--payload-size", str(cfg.payload_size),
            "--settle", str(cfg.settle),
            "--rounds", str(cfg.broadcast_rounds),
        )),
    ]  # fmt: skip
    budget = cfg.warmup + cfg.duration + 120 + workload.budget
    try:
        proc = subprocess.run(
            args, cwd=REPO_ROOT, capture_output=True, text=True, timeout=budget
        )
    except subprocess.TimeoutExpired:
        raise Failed(f"load client still running after {budget:.0f} s") from None
    server.check_alive()
    lines = proc.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, ValueError):
        raise Failed(f"load client crashed: {last_error_line(proc.stderr)}") from None
    if "error" in result:
        server_said = tail(server.log, 5)
        hint = f" (server log: {last_error_line(server_said)})" if server_said else ""
        raise Failed(result["error"] + hint)
    return result


WRK_DURATION_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def run_wrk(workload: Workload, server: Server, cfg: argparse.Namespace) -> dict:
    """Warm up, then measure, with wrk (one thread) on the client core."""
    url = f"http://{HOST}:{server.port}{workload.path}"
    base = [
        "taskset",
        "-c",
        str(cfg.client_core),
        "wrk",
        "-t1",
        f"-c{workload.connections}",
    ]

    def wrk(duration: float, *extra: str) -> str:
        proc = subprocess.run(
            [*base, f"-d{max(1, round(duration))}s", *extra, url],
            capture_output=True,
            text=True,
            timeout=duration + 60,
        )
        if proc.returncode != 0:
            raise Failed(f"wrk failed: {last_error_line(proc.stderr or proc.stdout)}")
        return proc.stdout

    wrk(cfg.warmup)
    # wrk's CPU comes from getrusage(RUSAGE_CHILDREN) once it has exited; the
    # window includes its start-up, so the CPU shares read slightly low.
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    # The "client" here is this runner, which just waits meanwhile.
    cpu = CpuWindow(server.pid, client_pid=os.getpid())
    cpu.start()
    out = wrk(cfg.duration, "--latency")
    window = cpu.stop()
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    server.check_alive()
    wrk_cpu = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
    window["client_cpu"] = 100 * wrk_cpu / window["window_s"]
    # wrk is not this process, so CpuWindow counted it under "other": move it.
    window["other_cpu"] = max(0.0, window["other_cpu"] - window["client_cpu"])
    rate = re.search(r"Requests/sec:\s*([\d.]+)", out)
    if not rate:
        raise Failed(f"could not read wrk's output: {out[-200:]!r}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    if non_2xx:
        raise Failed(
            f"{non_2xx.group(1)} non-2xx responses (server log: {last_error_line(tail(server.log, 5))})"
        )
    errors = re.search(r"Socket errors: (.*)", out)
    latency = {}
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        latency[key] = float(m.group(1)) * WRK_DURATION_UNITS[m.group(2)] if m else None
    return {
        "connections": workload.connections,
        "req_per_s": float(rate.group(1)),
        **latency,
        "socket_errors": errors.group(1) if errors else None,
        **window,
    }


# --- Preflight checks -------------------------------------------------------------------

PREFLIGHT = """
import importlib, sys
module, _, attribute = sys.argv[1].partition(":")
getattr(importlib.import_module(module), attribute)
print("app imports", flush=True)
exec(sys.argv[2])
"""


class Preflight:
    """Cached answers to "can this app run this workload at all?"."""

    def __init__(self, cfg: argparse.Namespace) -> None:
        self.cfg = cfg
        self.cache: dict[tuple[str, ...], str | None] = {}
        self.redis_problem: str | bool | None = False  # False: not asked yet

    def problem(self, app: App, workload: Workload) -> str | None:
        """Why ``app`` cannot run ``workload`` (a skip reason), or None."""
        if workload.kind == "http" and not shutil.which("wrk"):
            return "wrk is not installed (apt-get install wrk)"
        if workload.layer == "redis":
            if self.redis_problem is False:
                self.redis_problem = redis_problem(self.cfg.redis_url)
            if self.redis_problem:
                return str(self.redis_problem)
        if workload.layer == "postgres":
            problem = scale.postgres_problem()
            if problem:
                return problem
        check = app.group_check if workload.path == "/ws/group/" else ""
        key = (app.asgi, app.settings or "", workload.layer, check or "")
        if key not in self.cache:
            self.cache[key] = self._run(app, workload.layer, check or "")
        return self.cache[key]

    def _run(self, app: App, layer: str, check: str) -> str | None:
        """Import the app as uvicorn would, in its environment, then run ``check``."""
        proc = subprocess.run(
            [sys.executable, "-c", PREFLIGHT, app.asgi, check],
            cwd=REPO_ROOT,
            env=server_env(app, layer, self.cfg),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if proc.returncode == 0:
            return None
        error = last_error_line(proc.stderr)
        if "app imports" in proc.stdout:
            return f"groups API not available: {error}"
        return f"does not import: {error}"


def redis_problem(url: str) -> str | None:
    """None when Redis answers PING at ``url``, else why not."""
    m = re.match(r"redis://([^:/]+)(?::(\d+))?", url)
    if not m:
        return f"cannot parse Redis URL {url!r}"
    try:
        with socket.create_connection(
            (m.group(1), int(m.group(2) or 6379)), timeout=2
        ) as s:
            s.sendall(b"PING\r\n")
            if not s.recv(64).startswith(b"+PONG"):
                return "Redis did not answer PING"
    except OSError as exc:
        return f"Redis not reachable at {m.group(1)}:{m.group(2) or 6379}: {exc}"
    return None


# --- One measurement ---------------------------------------------------------------------


def measure(
    workload: Workload,
    app: App,
    cfg: argparse.Namespace,
    preflight: Preflight,
    log: Path,
) -> dict:
    """Measure one app under one workload once: a result, or a skipped/failed record."""
    if workload.descriptors:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < workload.descriptors + 200:
            return {
                "status": "skipped",
                "reason": f"ulimit -n is {soft}; raise it above {workload.descriptors + 200}",
            }
    if cfg.server == "granian" and workload.compression:
        return {
            "status": "skipped",
            "reason": "granian does not offer permessage-deflate",
        }
    problem = preflight.problem(app, workload)
    if problem:
        return {"status": "skipped", "reason": problem}
    try:
        with Server(app, workload, cfg, log) as server:
            result = (
                run_wrk(workload, server, cfg)
                if workload.kind == "http"
                else run_client(workload, server, cfg)
            )
    except Failed as exc:
        return {"status": "failed", "reason": str(exc)}
    return {"status": "ok", **result}


# --- Summaries -----------------------------------------------------------------------------


def spread(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def summarise(workload: Workload, runs: dict[str, list[dict]]) -> dict[str, dict]:
    """Per app and metric: spread of the values, and of the ratios to the same repetition's floor."""
    floor_runs = runs.get(workload.apps[0].key, [])
    summary: dict[str, dict] = {}
    for app in workload.apps:
        app_summary: dict[str, object] = {}
        app_runs = runs.get(app.key, [])
        for metric in workload.metrics:
            values, ratios = [], []
            for rep, run in enumerate(app_runs):
                value = run.get(metric.key) if run["status"] == "ok" else None
                if value is None:
                    continue
                values.append(value)
                floor = floor_runs[rep] if rep < len(floor_runs) else {}
                floor_value = (
                    floor.get(metric.key) if floor.get("status") == "ok" else None
                )
                if floor_value:
                    ratios.append(value / floor_value)
            app_summary[metric.key] = {"value": spread(values), "ratio": spread(ratios)}
        statuses = [run for run in app_runs if run["status"] != "ok"]
        if statuses:
            app_summary["problems"] = sorted(
                {f"{run['status']}: {run['reason']}" for run in statuses}
            )
        app_summary["ok_runs"] = sum(run["status"] == "ok" for run in app_runs)
        summary[app.key] = app_summary
    return summary


def fmt_number(value: float, digits: int) -> str:
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def fmt_cell(entry: dict, metric: Metric, is_floor: bool) -> str:
    value, ratio = entry["value"], entry["ratio"]
    if value is None:
        return "—"
    text = fmt_number(value["median"], metric.digits)
    if value["n"] > 1:
        text += f" ({fmt_number(value['min'], metric.digits)}-{fmt_number(value['max'], metric.digits)})"
    if metric.cpu or not metric.ratio or is_floor:
        return text
    if ratio is not None:
        text += f" x{ratio['median']:.2f}"
        if ratio["n"] > 1:
            text += f" ({ratio['min']:.2f}-{ratio['max']:.2f})"
    return text


def md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: dict, workloads: list[Workload]) -> str:
    meta = report["meta"]
    out = [
        "# django-wsviews benchmark",
        "",
        f"{meta['date']} · {meta['mode']} mode · "
        f"{meta['repetitions']} repetition{'s' if meta['repetitions'] != 1 else ''} · "
        f"Python {meta['python']} · {server_line(meta)} · server on core {meta['server_core']}, "
        f"client on core {meta['client_core']} · {meta['cpu']} · machine load before "
        f"starting: {meta['background_load_pct']:.0f}% of a core",
        "",
        "Cells: median (min-max over repetitions), then `x0.42`: the ratio to the floor "
        "(the raw ASGI app) measured in the same repetition, with its own min-max. "
        "Throughput: higher is better, a ratio below 1 is slower than the floor. Latency, "
        "memory, broadcast time: lower is better, a ratio above 1 is worse. CPU: percent "
        'of one core; "other" is everything else on the machine meanwhile and should be '
        "near 0.",
        "",
    ]
    for workload in workloads:
        summary = report["workloads"][workload.key]["summary"]
        out += (
            [f"## {workload.title}", "", workload.note, ""]
            if workload.note
            else [f"## {workload.title}", ""]
        )
        out.append("| app | " + " | ".join(m.label for m in workload.metrics) + " |")
        out.append("|---|" + "---:|" * len(workload.metrics))
        for i, app in enumerate(workload.apps):
            entry = summary[app.key]
            label = md_escape(app.label)
            if entry["ok_runs"] == 0:
                reason = md_escape("; ".join(entry.get("problems", ["no runs"])))
                out.append(
                    f"| {label} | {reason} |" + " |" * (len(workload.metrics) - 1)
                )
                continue
            cells = [
                fmt_cell(entry[m.key], m, i == 0)
                + targets.cell_suffix(workload.key, m.key, app.key, entry[m.key])
                for m in workload.metrics
            ]
            out.append(f"| {label} | " + " | ".join(cells) + " |")
            for problem in entry.get("problems", []):
                out.append(
                    f"| -> some repetitions | {md_escape(problem)} |"
                    + " |" * (len(workload.metrics) - 1)
                )
        if workload.key == "http":
            out += ["", *http_comparison(summary)]
        out += scale.comparison_lines(workload, report)
        out.append("")
    out += targets.summary_lines(report, workloads)
    out += [
        "## Is the client the bottleneck?",
        "",
        *headroom_lines(report, workloads),
        "",
    ]
    out += [
        "## Versions",
        "",
        ", ".join(f"{name} {version}" for name, version in meta["packages"].items()),
        "",
        f"Repository at {meta['git']}.",
        "",
    ]
    return "\n".join(out)


def server_line(meta: dict) -> str:
    server = meta.get("server", "uvicorn")
    flags = " ".join(meta["server_flags"][:6])
    return f"{server} {meta['packages'].get(server)} (`{flags}`)"


def http_comparison(summary: dict) -> list[str]:
    """django_wsviews' entry point against Django's own, the figure the HTTP row is for."""
    try:
        django = summary["django"]["req_per_s"]["value"]["median"]
        wsviews = summary["wsviews"]["req_per_s"]["value"]["median"]
    except (KeyError, TypeError):
        return [
            "django_wsviews.asgi vs django.core.asgi: not available (one of them did not run)."
        ]
    return [
        f"django_wsviews.asgi vs django.core.asgi: x{wsviews / django:.3f} requests/s (medians)."
    ]


def headroom_lines(report: dict, workloads: list[Workload]) -> list[str]:
    """The floor must saturate its core while the client has CPU to spare."""
    cfg = report["config"]
    lines = [
        "The server runs on one core and the client on another; the floor (the cheapest "
        "server) is where the client is most likely to limit the result. OK means the floor "
        f"used >= {cfg['saturated_pct']:.0f}% of its core while the client used "
        f"<= {cfg['client_limit_pct']:.0f}% of its own, and the rest of the machine stayed "
        f"under {cfg['other_limit_pct']:.0f}% of a core.",
        "",
        "| workload | floor: server CPU % | floor: client CPU % | floor: other CPU % "
        "| highest client CPU % (any app) | verdict |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for workload in workloads:
        if not workload.saturating:
            continue
        summary = report["workloads"][workload.key]["summary"]
        floor = summary[workload.apps[0].key]
        server, client, other = (
            (floor.get(key) or {}).get("value")
            for key in ("server_cpu", "client_cpu", "other_cpu")
        )
        if server is None or client is None or other is None:
            lines.append(f"| {workload.title} | — | — | — | — | floor did not run |")
            continue
        peak = max(
            s["client_cpu"]["value"]["max"]
            for s in summary.values()
            if s.get("client_cpu", {}).get("value")
        )
        if client["max"] > cfg["client_limit_pct"]:
            verdict = "CHECK: the client is near its limit"
        elif other["median"] > cfg["other_limit_pct"]:
            verdict = "CHECK: other processes competed for the cores"
        elif server["median"] < cfg["saturated_pct"]:
            verdict = "CHECK: the floor server is not saturated"
        else:
            verdict = "OK"
        lines.append(
            f"| {workload.title} | {server['median']:.0f} | {client['median']:.0f} | "
            f"{other['median']:.0f} | {peak:.0f} | {verdict} |"
        )
    lines += [
        "",
        "Echo with 1 connection is latency-bound (one message in flight), so neither side "
        "saturates there and it is left out.",
    ]
    return lines


# --- Reporting helpers ---------------------------------------------------------------------


def metadata(cfg: argparse.Namespace) -> dict:
    packages = {}
    for name in ("uvicorn", "uvloop", "httptools", "websockets", "Django", "channels", "channels-redis",
                 "starlette", "redis", "picows", "granian", "psycopg", "django-wsviews"):  # fmt: skip
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = "not installed"
    wrk = shutil.which("wrk")
    if wrk:
        version = subprocess.run(
            [wrk, "-v"], capture_output=True, text=True
        ).stdout.split("\n")[0]
        packages["wrk"] = version.split()[1] if version.startswith("wrk ") else "?"
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    git = subprocess.run(
        ["git", "describe", "--always", "--dirty", "--abbrev=12"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    return {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "mode": "quick" if cfg.quick else "full",
        "repetitions": cfg.reps,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "server_core": cfg.server_core,
        "client_core": cfg.client_core,
        "packages": packages,
        "git": git.stdout.strip() or "no commit yet",
        "server": cfg.server,
        "server_flags": server_flags(cfg.server),
    }


def short(result: dict, workload: Workload) -> str:
    if result["status"] != "ok":
        return f"{result['status'].upper()}: {result['reason']}"
    parts = []
    for metric in workload.metrics:
        value = result.get(metric.key)
        if value is not None:
            parts.append(f"{metric.label} {fmt_number(value, metric.digits)}")
    return ", ".join(parts)


# --- Command line ------------------------------------------------------------------------------


def int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


WORKLOAD_NAMES = (
    "echo",
    "handshake",
    "idle",
    "broadcast",
    "http",
    *scale.SCALE_WORKLOADS,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run",
        description="Benchmark django-wsviews against a raw ASGI floor, Channels and Starlette.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 1 repetition, short runs, fewer connections",
    )
    parser.add_argument(
        "--reps", type=int, help="repetitions (default 3; 1 with --quick)"
    )
    parser.add_argument(
        "--apps",
        help="comma-separated app keys (default: all): raw, wsviews-bare, "
        "wsviews, channels, starlette; for HTTP: raw, django, wsviews (django "
        "comes with wsviews); the floor (raw) always runs",
    )
    parser.add_argument(
        "--workloads",
        default=",".join(WORKLOAD_NAMES),
        help=f"comma-separated subset of: {', '.join(WORKLOAD_NAMES)}",
    )
    parser.add_argument(
        "--server",
        choices=SERVERS,
        default="uvicorn",
        help="the ASGI server (default uvicorn); granian runs the floor and "
        "django-wsviews unless --apps says otherwise",
    )
    scale.add_arguments(parser)
    parser.add_argument(
        "--warmup", type=float, help="seconds of warm-up per run (default 1)"
    )
    parser.add_argument(
        "--duration", type=float, help="seconds measured per run (default 5)"
    )
    parser.add_argument("--echo-connections", type=int_list, help="default 1,50,500")
    parser.add_argument("--handshake-workers", type=int, default=50)
    parser.add_argument("--idle-connections", type=int, help="default 10,000")
    parser.add_argument("--broadcast-members", type=int, help="default 1000")
    parser.add_argument(
        "--broadcast-rounds", type=int, help="measured broadcasts per run (default 10)"
    )
    parser.add_argument("--http-connections", type=int, default=50)
    parser.add_argument(
        "--payload-size", type=int, default=64, help="bytes per echo message"
    )
    parser.add_argument(
        "--settle", type=float, help="idle: seconds before each RSS reading (default 2)"
    )
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--client-core", type=int, default=1)
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    )
    parser.add_argument(
        "--out", type=Path, default=BENCH_DIR / "results", help="results directory"
    )
    cfg = parser.parse_args(argv)

    defaults = (
        dict(reps=1, warmup=0.5, duration=2.0, echo_connections=[1, 50], idle_connections=500,
             broadcast_members=1000, broadcast_rounds=3, settle=1.0)
        if cfg.quick
        else dict(reps=3, warmup=1.0, duration=5.0, echo_connections=[1, 50, 500], idle_connections=10_000,
                  broadcast_members=1000, broadcast_rounds=10, settle=2.0)
    )  # fmt: skip
    for name, value in defaults.items():
        if getattr(cfg, name) is None:
            setattr(cfg, name, value)
    scale.apply_defaults(cfg)
    cfg.workloads = [w.strip() for w in cfg.workloads.split(",") if w.strip()]
    unknown = set(cfg.workloads) - set(WORKLOAD_NAMES)
    if unknown:
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    if not re.match(r"redis://127\.0\.0\.1[:/]", cfg.redis_url):
        parser.error("--redis-url must point at 127.0.0.1")
    cfg.saturated_pct = 90.0
    cfg.client_limit_pct = 80.0
    cfg.other_limit_pct = 15.0
    return cfg


def background_load(seconds: float = 1.0) -> float:
    """Percent of one core the whole machine uses while the benchmark is idle."""
    busy0, wall0 = busy_cpu_seconds(), time.perf_counter()
    time.sleep(seconds)
    return 100 * (busy_cpu_seconds() - busy0) / (time.perf_counter() - wall0)


def raise_fd_limit(needed: int) -> None:
    """
    Servers and clients inherit this: 10,000 idle connections need the room.
    The soft limit goes up to what the workloads need (plus headroom), no
    further; the hard limit too when root may raise it, up to the kernel's
    ``fs.nr_open``.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, needed + 1024)
    if want > hard:
        try:
            nr_open = int(Path("/proc/sys/fs/nr_open").read_text())
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, nr_open),) * 2)
            return
        except (OSError, ValueError):
            want = hard  # not root: as far as allowed; short workloads are skipped
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    if shutil.which("taskset") is None:
        print(
            "taskset (util-linux) is required to pin server and client to their cores",
            file=sys.stderr,
        )
        return 2
    workloads = build_workloads(cfg)
    raise_fd_limit(max((w.descriptors for w in workloads), default=0))
    if cfg.server == "granian" and not cfg.apps:
        cfg.apps = (
            "raw,wsviews-bare,wsviews"  # granian's rows: the floor and django-wsviews
        )
    if cfg.apps:
        keep = {a.strip() for a in cfg.apps.split(",")}
        if keep & {"wsviews", "wsviews-bare"}:
            keep.add("django")  # the HTTP row's point is wsviews against Django's own
        for workload in workloads:
            # The floor always runs: every other figure is a ratio to it.
            workload.apps = [
                app
                for app in workload.apps
                if app is workload.apps[0] or app.key in keep
            ]

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S") + (
        "-quick" if cfg.quick else ""
    )
    out_dir = cfg.out / stamp
    log_dir = out_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    preflight = Preflight(cfg)
    runs: dict[str, dict[str, list[dict]]] = {
        w.key: {a.key: [] for a in w.apps} for w in workloads
    }

    background = background_load()
    if background > cfg.other_limit_pct:
        print(
            f"warning: the machine is busy before starting ({background:.0f}% of a "
            "core in use); figures will be noisy, see the 'other CPU %' columns",
            file=sys.stderr,
        )

    started = time.monotonic()
    for rep in range(cfg.reps):
        for workload in workloads:
            if workload.once and rep > 0:
                continue
            for app in workload.apps:
                log = log_dir / f"{workload.key}.{app.key}.rep{rep + 1}.log"
                result = measure(workload, app, cfg, preflight, log)
                result["repetition"] = rep + 1
                runs[workload.key][app.key].append(result)
                print(
                    f"[{rep + 1}/{cfg.reps} {time.monotonic() - started:5.0f}s] "
                    f"{workload.key:<18} {app.key:<13} {short(result, workload)}",
                    flush=True,
                )

    report = {
        "meta": {**metadata(cfg), "background_load_pct": background},
        "config": {
            key: (str(value) if isinstance(value, Path) else value)
            for key, value in vars(cfg).items()
            if key not in ("out",)
        },
        "workloads": {
            w.key: {
                "title": w.title,
                "kind": w.kind,
                "connections": w.connections,
                "layer": w.layer,
                "apps": {a.key: a.label for a in w.apps},
                "floor": w.apps[0].key,
                "runs": runs[w.key],
                "summary": summarise(w, runs[w.key]),
            }
            for w in workloads
        },
    }
    markdown = render_markdown(report, workloads)
    (out_dir / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / "results.md").write_text(markdown)
    shutil.copyfile(out_dir / "results.json", cfg.out / "latest.json")
    shutil.copyfile(out_dir / "results.md", cfg.out / "latest.md")
    print()
    print(markdown)
    shown = (
        out_dir.relative_to(REPO_ROOT) if out_dir.is_relative_to(REPO_ROOT) else out_dir
    )
    print(
        f"Written to {shown}/ (results.md, results.json, logs/) and latest.md/latest.json beside it."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
