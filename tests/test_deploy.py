"""The container files: ``Dockerfile``, ``compose.yaml`` and ``deploy/nginx.conf`` (issue #14).

No container engine runs here. The files are read the way an engine reads them, and what
they would start runs as plain processes: the Dockerfile's ENTRYPOINT with its ENV (and the
variables ``docker run -e`` would add), then its HEALTHCHECK command; and the environment of
compose's ``mockrouter`` service twice on one Redis, as the two replicas behind the front.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import psutil
import pytest
import yaml
from redis_process import RedisProcess
from test_cli import BASE_URL, clean_env, free_port, read_lines

from mockrouter.tools.cli import build_parser, parse_args

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
TOKEN_HEADER = "X-Mockrouter-Admin-Token"


# -- reading the Dockerfile --------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int


def read_instructions(path: Path) -> list[Instruction]:
    """The instructions of a Dockerfile: comments and blank lines dropped, lines ending in ``\\``
    joined with the next, the keyword upper-cased."""
    found: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        text = raw.strip()
        if not text or text.startswith("#"):  # also inside a continued instruction, as Docker does
            continue
        if not pending:
            start = number
        if text.endswith("\\"):
            pending.append(text[:-1].strip())
            continue
        keyword, _, args = " ".join([*pending, text]).partition(" ")
        pending = []
        found.append(Instruction(keyword.upper(), args.strip(), start))
    assert not pending, f"{path}: the file ends inside a continued instruction"
    return found


def exec_form(args: str, where: Instruction) -> list[str]:
    """A JSON-array argument (``["mockrouter", "serve"]``), as an engine runs it without a shell."""
    assert args.startswith("["), f"Dockerfile:{where.line}: {where.keyword} should use the exec (JSON) form"
    argv = json.loads(args)
    assert isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv), where
    return argv


@dataclass
class Image:
    """What the Dockerfile builds: every stage's base, and the final stage's settings."""

    bases: list[str]
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    expose: list[str] = field(default_factory=list)
    healthcheck: list[str] | None = None
    healthcheck_options: dict[str, str] = field(default_factory=dict)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)  # COPY sources from the build context, all stages
    runs: list[str] = field(default_factory=list)  # RUN commands, all stages

    @property
    def command(self) -> list[str]:
        return self.entrypoint + self.cmd


def substitute(text: str, values: Mapping[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` replaced from ``values`` (unset: empty), as Dockerfile ENV does."""
    return re.sub(r"\$(?:\{(\w+)\}|(\w+))", lambda m: values.get(m[1] or m[2], ""), text)


def read_image(path: Path = DOCKERFILE) -> Image:
    instructions = read_instructions(path)
    args: dict[str, str] = {}
    image = Image(bases=[])
    stages: set[str] = set()
    for ins in instructions:
        if ins.keyword == "ARG" and not image.bases:  # global build args, usable in FROM
            name, _, default = ins.args.partition("=")
            args[name.strip()] = default.strip()
        elif ins.keyword == "FROM":
            base, *alias = ins.args.split()
            base = substitute(base, args)
            if base not in stages:  # FROM <an earlier stage> is no new base
                image.bases.append(base)
            if len(alias) == 2 and alias[0].upper() == "AS":
                stages.add(alias[1])
            image = Image(bases=image.bases, copied=image.copied, runs=image.runs)  # a stage starts afresh
        elif ins.keyword == "ENV":
            words = shlex.split(ins.args)
            pairs = [w.partition("=") for w in words] if "=" in words[0] else [(words[0], "=", " ".join(words[1:]))]
            for name, _, value in pairs:
                image.env[name] = substitute(value, {**os.environ, **image.env})
        elif ins.keyword == "USER":
            image.user = ins.args
        elif ins.keyword == "EXPOSE":
            image.expose += [port.split("/")[0] for port in ins.args.split()]
        elif ins.keyword == "HEALTHCHECK":
            found = re.fullmatch(r"(?P<options>(?:--\S+\s+)*)CMD\s+(?P<command>.+)", ins.args, re.S)
            assert found, f"Dockerfile:{ins.line}: HEALTHCHECK [OPTIONS] CMD [...] expected"
            image.healthcheck = exec_form(found["command"], ins)
            image.healthcheck_options = dict(o.removeprefix("--").split("=", 1) for o in found["options"].split())
        elif ins.keyword == "ENTRYPOINT":
            image.entrypoint = exec_form(ins.args, ins)
        elif ins.keyword == "CMD":
            image.cmd = exec_form(ins.args, ins)
        elif ins.keyword == "COPY" and not ins.args.startswith("--from"):
            image.copied += [source.rstrip("/") for source in shlex.split(ins.args)[:-1]]
        elif ins.keyword == "RUN":
            image.runs.append(ins.args)
    return image


def serve_variables() -> set[str]:
    """Every ``MOCKROUTER_*`` variable ``mockrouter serve`` reads (its flags' specs)."""
    return {spec.variable for spec in build_parser().commands["serve"].from_env}


def local_argv(argv: list[str]) -> list[str]:
    """An image's command as it runs here: ``mockrouter`` is this venv's console script (the
    image's is the same package's), ``python`` this interpreter."""
    program, *rest = argv
    if program in ("python", "python3"):
        return [sys.executable, *rest]
    if program == "mockrouter":
        script = shutil.which("mockrouter", path=str(Path(sys.executable).parent))
        return [script, *rest] if script else [sys.executable, "-m", "mockrouter", *rest]
    raise AssertionError(f"unexpected program in the image's command: {argv}")


# -- reading compose.yaml and nginx.conf ---------------------------------------------------------


class MissingVariable(Exception):
    """``${NAME:?message}`` with NAME unset: compose refuses to start."""


def interpolate(text: str, values: Mapping[str, str]) -> str:
    """compose's ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?message}``."""

    def one(m: re.Match[str]) -> str:
        name, how, rest = m["name"], m["how"], m["rest"] or ""
        value = values.get(name, "")
        if how == ":?" and not value:
            raise MissingVariable(f"{name}: {rest}")
        return value or (rest if how == ":-" else "")

    return re.sub(r"\$\{(?P<name>\w+)(?:(?P<how>:-|:\?)(?P<rest>[^}]*))?\}", one, text)


def read_compose() -> dict[str, Any]:
    compose = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(compose, dict) and isinstance(compose.get("services"), dict), "compose.yaml: services expected"
    return compose


def service_env(service: dict[str, Any], values: Mapping[str, str]) -> dict[str, str]:
    """A service's ``environment`` (mapping or list form), interpolated with ``values``."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {name: interpolate(str(value), values) for name, value in raw.items()}


def bind_mounts(service: dict[str, Any], values: Mapping[str, str]) -> dict[str, Path]:
    """The service's bind mounts: container path -> host path (relative ones from compose.yaml's folder)."""
    mounts: dict[str, Path] = {}
    for volume in service.get("volumes") or []:
        host, container, *_ = interpolate(volume, values).split(":")
        mounts[container] = (COMPOSE.parent / host).resolve()
    return mounts


def nginx_upstreams(text: str) -> dict[str, list[str]]:
    """``upstream NAME { server HOST:PORT ...; }`` blocks: NAME -> the servers' addresses."""
    text = re.sub(r"#[^\n]*", "", text)
    return {
        name: re.findall(r"^\s*server\s+(\S+?)[\s;]", body, re.M)
        for name, body in re.findall(r"upstream\s+(\S+)\s*\{([^}]*)\}", text)
    }


def nginx_directives(text: str) -> dict[str, list[str]]:
    """Every simple directive ``name args;`` (outside comments): name -> the args of each use."""
    found: dict[str, list[str]] = {}
    for name, args in re.findall(r"^\s*([a-z_]+)\s+([^;{}]*);", re.sub(r"#[^\n]*", "", text), re.M):
        found.setdefault(name, []).append(args.strip())
    return found


def seconds(value: str) -> float:
    """An nginx time (``90``, ``90s``, ``10m``, ``1h``) in seconds."""
    found = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", value)
    assert found, f"not an nginx time: {value!r}"
    return int(found[1]) * {"ms": 0.001, None: 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[found[2]]


# -- running what the image runs -----------------------------------------------------------------


class Running:
    """The image's command as a process (the ``running`` fixture kills what a test leaves)."""

    def __init__(self, process: subprocess.Popen[str], port: int, env: dict[str, str], banner: str) -> None:
        self.process = process
        self.port = port
        self.env = env
        self.banner = banner

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def admin(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url + "/__mockrouter", headers={TOKEN_HEADER: self.env["MOCKROUTER_ADMIN_TOKEN"]}, timeout=10
        )

    def client(self, api_key: str, **headers: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/api/v1", api_key=api_key, default_headers=headers, timeout=10)

    def kill(self) -> tuple[str, str]:
        """SIGKILL the process and its workers (killing only the parent would orphan them);
        (stdout, stderr) after the banner."""
        try:
            tree = [psutil.Process(self.process.pid), *psutil.Process(self.process.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            tree = []
        for process in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(tree, timeout=5)
        return self.process.communicate(timeout=5)

    def terminate(self) -> tuple[int, str, str]:
        """SIGTERM by PID, as ``docker stop`` sends it; (exit code, stdout after the banner, stderr)."""
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            out, err = self.process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            _, err = self.kill()
            pytest.fail(f"the image's command did not exit within 15 s of SIGTERM\nstderr: {err}")
        return self.process.returncode, out, err


def run_image(image: Image, env: Mapping[str, str]) -> Running:
    """Start the image's command with its ENV plus ``env`` (what ``docker run -e`` adds)."""
    full = {**clean_env(), **image.env, **env}  # the image's PATH puts its venv first, then this one's
    process = subprocess.Popen(
        local_argv(image.command), cwd=ROOT, env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    banner = read_lines(process.stdout, 3, timeout=30)
    found = BASE_URL.search(banner)
    served = Running(process, int(found["port"]) if found else 0, full, banner)
    if found is None:
        out, err = served.kill()
        pytest.fail(f"no banner (rc={process.returncode})\nstdout: {banner}{out}\nstderr: {err}")
    return served


def run_healthcheck(image: Image, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """The HEALTHCHECK command, as the engine runs it in the container (with the container's env)."""
    assert image.healthcheck is not None
    timeout = seconds(image.healthcheck_options.get("timeout", "30s"))
    return subprocess.run(local_argv(image.healthcheck), env=dict(env), capture_output=True, text=True, timeout=timeout)


def image_env(port: int, store: str, **more: str) -> dict[str, str]:
    """What a ``docker run -e ...`` of the image sets: the port the test picked, a fresh token, the store."""
    return {
        "MOCKROUTER_PORT": str(port),
        "MOCKROUTER_ADMIN_TOKEN": secrets.token_hex(16),
        "MOCKROUTER_STORE": store,
        "MOCKROUTER_SPEED": "0",
        **more,
    }


@pytest.fixture(scope="module")
def image() -> Image:
    return read_image()


@pytest.fixture
def running() -> Iterator[list[Running]]:
    """The image's commands a test started: whatever is left running is killed afterwards, workers too."""
    started: list[Running] = []
    yield started
    for served in started:
        if served.process.poll() is None:
            served.kill()


# -- the Dockerfile ------------------------------------------------------------------------------


def test_the_image_is_slim_unprivileged_and_configured_by_environment(image: Image) -> None:
    assert image.bases, "no FROM"
    for base in image.bases:
        assert re.fullmatch(r"python:3\.\d+-slim(-\w+)?", base), f"base image {base!r}: a python:3.X-slim one"
    assert image.user is not None, "no USER: the server would run as root"
    assert image.user.split(":")[0] not in ("", "root", "0"), image.user
    assert image.expose == ["8080"]
    assert image.env["MOCKROUTER_HOST"] == "0.0.0.0"
    assert image.env["MOCKROUTER_PORT"] == "8080"
    assert {name for name in image.env if name.startswith("MOCKROUTER_")} <= serve_variables()
    assert image.command == ["mockrouter", "serve"]
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["mockrouter"]


def test_the_image_installs_the_package_without_extras_or_cache(image: Image) -> None:
    installs = [run for run in image.runs if "pip install" in run]
    assert len(installs) == 1, image.runs
    assert re.search(r"pip install --no-cache-dir \.(\s|$)", installs[0]), installs[0]
    # what the wheel is built from is in the image's build context
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    needed = {"pyproject.toml", project["project"]["readme"], *wheel["packages"], *wheel["force-include"]}
    assert needed <= set(image.copied), needed - set(image.copied)
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv*", "tests/clients/node/node_modules", "**/__pycache__"} <= ignored
    assert not needed & ignored


def test_the_healthcheck_asks_the_admin_api_with_the_token(image: Image) -> None:
    assert image.healthcheck is not None, "no HEALTHCHECK"
    assert image.healthcheck[0] == "python", "slim images have no curl: python's urllib"
    code = " ".join(image.healthcheck)
    assert "/__mockrouter/health" in code
    assert TOKEN_HEADER in code and "MOCKROUTER_ADMIN_TOKEN" in code
    assert seconds(image.healthcheck_options["timeout"]) < seconds(image.healthcheck_options["interval"])


# -- the image's command, run -------------------------------------------------------------------


def test_the_image_command_serves_on_redis_passes_its_healthcheck_and_stops_on_sigterm(
    image: Image, redis_server: RedisProcess, running: list[Running]
) -> None:
    port = free_port()
    served = run_image(image, image_env(port, redis_server.url, MOCKROUTER_WORKERS="2"))
    running.append(served)
    assert served.port == port
    assert f"http://0.0.0.0:{port}/api/v1" in served.banner, "the image listens beyond loopback"
    assert served.env["MOCKROUTER_HOST"] == "0.0.0.0"

    done = run_healthcheck(image, served.env)
    assert done.returncode == 0, done.stderr
    wrong = run_healthcheck(image, {**served.env, "MOCKROUTER_ADMIN_TOKEN": "not-the-token"})
    assert wrong.returncode != 0, "the health check passed with a wrong token"
    assert "401" in wrong.stderr

    with served.admin() as admin:
        health = admin.get("/health").json()
    assert health["status"] == "ok"
    assert health["store"]["url"] == redis_server.url

    with served.client(f"sk-deploy-{uuid.uuid4().hex}") as client:
        completion = client.chat.completions.create(
            model="x/y", messages=[{"role": "user", "content": "hello from the image's command"}]
        )
    assert completion.choices[0].message.content == "hello from the image's command"

    workers = psutil.Process(served.process.pid).children(recursive=True)
    assert len(workers) >= 2, f"MOCKROUTER_WORKERS=2 started {len(workers)} worker process(es)"
    code, out, err = served.terminate()
    assert code == 0, err
    assert "shutting down (SIGTERM)" in out
    _, alive = psutil.wait_procs(workers, timeout=5)
    assert not alive, f"worker processes left running after SIGTERM: {alive}"
    with pytest.raises(httpx.TransportError):
        httpx.get(served.url + "/__mockrouter/health", timeout=1)


def test_the_healthcheck_fails_while_redis_is_unreachable(image: Image, running: list[Running]) -> None:
    with RedisProcess() as redis:
        served = run_image(image, image_env(free_port(), redis.url))
        running.append(served)
        assert run_healthcheck(image, served.env).returncode == 0
        redis.stop()
        down = run_healthcheck(image, served.env)
        assert down.returncode != 0, "healthy with its Redis gone"
        assert "503" in down.stderr
        redis.start()
        # redis-py reconnects on the next call; the engine retries a failed check (bounded here)
        deadline = time.monotonic() + 10
        while (back := run_healthcheck(image, served.env)).returncode != 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert back.returncode == 0, back.stderr
        code, _, err = served.terminate()
        assert code == 0, err


# -- compose.yaml and the front -------------------------------------------------------------------


def test_compose_runs_redis_two_replicas_and_one_front() -> None:
    services = read_compose()["services"]
    assert set(services) == {"redis", "mockrouter", "front"}

    redis = services["redis"]
    assert redis["image"] == "redis:7-alpine"
    assert "ports" not in redis, "Redis is for the services only"
    assert redis["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]

    mockrouter = services["mockrouter"]
    assert mockrouter["build"] == "."
    assert mockrouter["deploy"]["replicas"] == 2
    assert "ports" not in mockrouter, "the replicas are reached through the front"
    assert "container_name" not in mockrouter, "a fixed name allows one replica"
    assert mockrouter["depends_on"]["redis"]["condition"] == "service_healthy"
    env = service_env(mockrouter, {"MOCKROUTER_ADMIN_TOKEN": "t"})
    assert env["MOCKROUTER_STORE"] == "redis://redis:6379/0"
    assert env["MOCKROUTER_WORKERS"] == "2"
    assert env["MOCKROUTER_ADMIN_TOKEN"] == "t"

    front = services["front"]
    assert front["image"] == "nginx:alpine"
    assert len(front["ports"]) == 1
    published, target = interpolate(str(front["ports"][0]), {}).rsplit(":", 1)
    assert (published, target) == ("8080", "8080")
    assert front["depends_on"]["mockrouter"]["condition"] == "service_healthy"
    assert bind_mounts(front, {})["/etc/nginx/conf.d/default.conf"] == NGINX_CONF


def test_compose_refuses_to_start_without_an_admin_token() -> None:
    mockrouter = read_compose()["services"]["mockrouter"]
    with pytest.raises(MissingVariable, match="MOCKROUTER_ADMIN_TOKEN"):
        service_env(mockrouter, {})


def test_compose_sets_only_variables_serve_reads_with_values_it_takes() -> None:
    mockrouter = read_compose()["services"]["mockrouter"]
    values = {"MOCKROUTER_ADMIN_TOKEN": secrets.token_hex(16)}
    env = service_env(mockrouter, values)
    unknown = set(env) - serve_variables()
    assert not unknown, f"compose sets variables mockrouter serve does not read: {sorted(unknown)}"
    # as the container sees them: paths inside it are the bind mounts' host paths here
    mounts = bind_mounts(mockrouter, values)
    local = {name: str(mounts.get(value, value)) for name, value in env.items()}
    args = parse_args(["serve"], environ={**read_image().env, **local})
    assert args.store == "redis://redis:6379/0"
    assert args.workers == 2
    assert args.host == "0.0.0.0"
    assert [str(path) for path in args.scenarios] == [str(mounts["/scenarios"])]
    check = subprocess.run(
        [sys.executable, "-m", "mockrouter", "check", str(mounts["/scenarios"])], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr


def test_the_front_proxies_to_the_replicas_and_passes_streams_through() -> None:
    text = NGINX_CONF.read_text()
    image = read_image()
    front = read_compose()["services"]["front"]
    upstreams = nginx_upstreams(text)
    assert list(upstreams) == ["mockrouter"]
    assert upstreams["mockrouter"] == [f"mockrouter:{image.env['MOCKROUTER_PORT']}"], "the compose service and port"
    found = nginx_directives(text)
    assert found["proxy_pass"] == ["http://mockrouter"]
    assert found["listen"] == [str(front["ports"][0]).rsplit(":", 1)[1]]
    assert found["proxy_buffering"] == ["off"], "SSE chunks must not wait in nginx's buffers"
    assert found["proxy_http_version"] == ["1.1"]
    assert found["proxy_set_header"].count('Connection ""') == 1
    assert seconds(found["proxy_read_timeout"][0]) >= 600, "scripted stalls and slow streams"
    max_body = next(spec.default for spec in build_parser().commands["serve"].from_env if spec.dest == "max_body")
    limit = found["client_max_body_size"][0]
    assert int(limit.rstrip("m")) * 1024 * 1024 >= max_body, "nginx would answer 413 before mockrouter"


# -- two replicas behind one port, without containers --------------------------------------------


@pytest.fixture
def replicas(image: Image, redis_server: RedisProcess, running: list[Running]) -> Iterator[list[Running]]:
    """compose's mockrouter service, twice: its environment with the token set, its store pointed
    at the test's Redis, its mounts' host paths and a port each (the front's job, here the test's)."""
    service = read_compose()["services"]["mockrouter"]
    values = {"MOCKROUTER_ADMIN_TOKEN": secrets.token_hex(16)}
    env = service_env(service, values)
    mounts = bind_mounts(service, values)
    env = {name: str(mounts.get(value, value)) for name, value in env.items()}
    env |= {"MOCKROUTER_STORE": redis_server.url, "MOCKROUTER_SPEED": "0"}
    started = [run_image(image, {**env, "MOCKROUTER_PORT": str(free_port())}) for _ in range(2)]
    running.extend(started)
    yield started
    for replica in started:
        code, _, err = replica.terminate()
        assert code == 0, err


def test_two_replicas_on_one_redis_share_cursors_scenarios_and_the_journal(replicas: list[Running]) -> None:
    first, second = replicas
    key = f"sk-deploy-{uuid.uuid4().hex}"
    with first.admin() as admin_a, second.admin() as admin_b:
        # a scoped scenario added through one replica applies on the other
        added = admin_b.post(
            "/scenarios",
            params={"key": key},
            content="name: deploy-two-steps\nsteps:\n  - content: first step\n  - content: second step\n",
            headers={"content-type": "application/yaml"},
        )
        assert added.status_code == 201, added.text
        # the front alternates: the cursor moves on whichever replica answers
        answers = []
        for replica in (first, second):
            with replica.client(key) as client:
                completion = client.chat.completions.create(
                    model="mockrouter/deploy-two-steps", messages=[{"role": "user", "content": "next"}]
                )
            answers.append(completion.choices[0].message.content)
        assert answers == ["first step", "second step"]

        # each replica's journal shows both requests, once they are written
        for admin in (admin_a, admin_b):
            waited = admin.post("/wait", json={"count": 2, "key": key, "timeout_ms": 5000}).json()
            assert waited["ok"], waited
            entries = admin.get("/requests", params={"key": key}).json()["data"]
            assert len(entries) == 2
            assert len({entry["id"] for entry in entries}) == 2
