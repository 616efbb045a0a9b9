"""The ``mockrouter`` command: ``serve``, ``check``, ``scenarios``, ``report``, ``fuzz``.

A thin layer, as uvicorn's ``main.py`` is: parse flags (each also read from a
``MOCKROUTER_*`` environment variable), build a :class:`Config`, call into the package.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .. import __version__
from ..core.config import Config
from ..errors import MockrouterError, ScenarioErrors
from ..wire.dialects import DIALECTS

ENV_PREFIX = "MOCKROUTER_"


def _env(name: str, default: object = None) -> object:
    return os.environ.get(ENV_PREFIX + name, default)


def _env_bool(name: str) -> bool:
    return str(_env(name, "")).lower() in ("1", "true", "yes", "on")


def _env_list(name: str) -> list[str]:
    value = str(_env(name, ""))
    return [p for p in value.split(os.pathsep) if p] if value else []


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mockrouter", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"mockrouter {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser(
        "serve",
        help="start the mock router",
        description="Start the server. Every flag also reads MOCKROUTER_<FLAG> "
        "(e.g. MOCKROUTER_PORT, MOCKROUTER_SCENARIOS as a path list).",
    )
    serve.add_argument("--host", default=_env("HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(str(_env("PORT", 8080))))
    serve.add_argument(
        "--scenarios", action="append", type=Path, default=None, help="scenario file or folder (repeatable)"
    )
    serve.add_argument("--dialect", choices=sorted(DIALECTS), default=_env("DIALECT", "anyrouter"))
    serve.add_argument(
        "--keys",
        type=Path,
        default=_env("KEYS"),
        help="keys file (YAML): only its keys are accepted, with their credits and rate limits",
    )
    serve.add_argument("--seed", type=int, default=_env("SEED"), help="make ids, created and faker text reproducible")
    serve.add_argument(
        "--speed",
        type=float,
        default=float(str(_env("SPEED", 1.0))),
        help="multiplies every scripted delay: 0 skips them, 1 is real time",
    )
    serve.add_argument(
        "--no-builtin",
        action="store_true",
        default=_env_bool("NO_BUILTIN"),
        help="load only the default 'echo' of the built-in scenarios",
    )
    serve.add_argument("--admin-token", default=_env("ADMIN_TOKEN"))
    serve.add_argument("--strict-models", action="store_true", default=_env_bool("STRICT_MODELS"))
    serve.add_argument("--journal-size", type=int, default=int(str(_env("JOURNAL_SIZE", 10_000))))
    serve.add_argument("--max-body", type=int, default=int(str(_env("MAX_BODY", 10 * 1024 * 1024))))
    serve.add_argument(
        "--max-header",
        type=int,
        default=int(str(_env("MAX_HEADER", 32 * 1024))),
        help="total bytes of request header names and values; more is answered 431",
    )
    serve.add_argument(
        "--usage-chunk",
        choices=("repeat", "empty"),
        default=_env("USAGE_CHUNK", "repeat"),
        help="openrouter: the closing usage chunk repeats the final choice or has choices: []",
    )
    serve.add_argument(
        "--no-validate",
        action="store_true",
        default=_env_bool("NO_VALIDATE"),
        help="do not validate request bodies against the request schema",
    )
    serve.add_argument(
        "--access-log",
        action="store_true",
        default=_env_bool("ACCESS_LOG"),
        help="uvicorn's access log (off by default: it halves throughput)",
    )

    check = sub.add_parser("check", help="lint scenario files and check their output against the schemas")
    check.add_argument("paths", nargs="+", type=Path)

    scenarios = sub.add_parser("scenarios", help="list scenarios (built-in, or from the given paths)")
    scenarios.add_argument("paths", nargs="*", type=Path)

    report = sub.add_parser("report", help="the resilience report of a running server (exit 1 on findings)")
    report.add_argument("--url", default=_env("URL", "http://127.0.0.1:8080"), help="the server root")
    report.add_argument("--key", default=None, help="only this API key")
    report.add_argument("--max-retries", type=int, default=5, help="more retries than this is a retry storm")
    report.add_argument("--admin-token", default=_env("ADMIN_TOKEN"))
    report.add_argument("--json", action="store_true", help="print the raw JSON")

    fuzz = sub.add_parser(
        "fuzz",
        help="check any router-compatible server with generated valid and invalid requests (exit 1 on failure)",
    )
    fuzz.add_argument("--target", required=True, help="the router API base URL, e.g. http://127.0.0.1:8080/api/v1")
    fuzz.add_argument("--api-key", default=_env("API_KEY"), help="the key to send (default: a fixed test key)")
    fuzz.add_argument("--examples", type=int, default=100, help="generated requests to send")
    fuzz.add_argument("--seed", type=int, default=None, help="reproduce a run (default: random, printed)")
    fuzz.add_argument("--dialect", choices=sorted(DIALECTS), default="anyrouter", help="the schemas to check against")
    fuzz.add_argument("--model", default="openai/gpt-4o-mini", help="model id put in every request")
    fuzz.add_argument("--no-shrink", action="store_true", help="report failing cases as first seen")
    fuzz.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    return parser


def _serve(args: argparse.Namespace) -> int:
    from ..http.server import serve

    scenario_paths = args.scenarios if args.scenarios is not None else [Path(p) for p in _env_list("SCENARIOS")]
    config = Config(
        host=args.host,
        port=args.port,
        scenarios=scenario_paths,
        dialect=args.dialect,
        keys=Path(args.keys) if args.keys else None,
        seed=int(args.seed) if args.seed is not None else None,
        speed=args.speed,
        builtin=not args.no_builtin,
        admin_token=args.admin_token,
        strict_models=args.strict_models,
        journal_size=args.journal_size,
        max_body=args.max_body,
        max_header=args.max_header,
        usage_chunk=args.usage_chunk,
        validate=not args.no_validate,
        access_log=args.access_log,
    )
    serve(config)
    return 0


def _check(args: argparse.Namespace) -> int:
    from .check import check_paths

    scenarios, errors = check_paths(args.paths)
    for error in errors:
        print(error, file=sys.stderr)
    if errors:
        print(f"{len(errors)} problem(s)", file=sys.stderr)
        return 1
    print(f"ok: {len(scenarios)} scenario(s) checked")
    return 0


def _scenarios(args: argparse.Namespace) -> int:
    from ..scenario.loader import load_builtin, load_path

    found = []
    if args.paths:
        for path in args.paths:
            found.extend(load_path(path))
    else:
        found = load_builtin()
    for s in found:
        summary = s.summary()
        match = summary["match"]
        how = ", ".join(f"{k}={v}" for k, v in match.items()) if match else f"model mockrouter/{s.name}"
        print(f"{s.name:<24} {len(s.steps)} step(s)  {how}")
        if s.description:
            print(f"{'':<24} {s.description.splitlines()[0]}")
    return 0


def _report(args: argparse.Namespace) -> int:
    import httpx

    headers = {"X-Mockrouter-Admin-Token": args.admin_token} if args.admin_token else {}
    params: dict[str, str | int] = {"max_retries": args.max_retries}
    if args.key:
        params["key"] = args.key
    try:
        response = httpx.get(args.url.rstrip("/") + "/__mockrouter/report", params=params, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        print(f"error: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 2
    if response.status_code != 200:
        print(f"error: {response.status_code} {response.text}", file=sys.stderr)
        return 2
    keys = response.json()["data"]
    if args.json:
        print(response.text)
    else:
        print(f"{'key':8s} {'requests':>8s}  finding")
        for key in keys:
            hint = "…" + (key["key_hint"] or "")
            if not key["findings"]:
                print(f"{hint:8s} {key['requests']:8d}  (none)")
            for finding in key["findings"]:
                ids = ", ".join(finding["request_ids"])
                print(f"{hint:8s} {key['requests']:8d}  {finding['kind']}: {finding['message']} [{ids}]")
    return 1 if any(k["findings"] for k in keys) else 0


def _fuzz(args: argparse.Namespace) -> int:
    from .fuzzer import DEFAULT_KEY, run

    tty = sys.stderr.isatty()

    def progress(done: int, total: int, failing: int) -> None:
        if tty:
            print(f"\r[{done:>5}/{total}] {failing} failing", end="", file=sys.stderr, flush=True)
        elif done == total or done % max(1, total // 10) == 0:
            print(f"[{done:>5}/{total}] {failing} failing", file=sys.stderr, flush=True)

    report = run(
        args.target,
        api_key=args.api_key or DEFAULT_KEY,
        examples=args.examples,
        seed=args.seed,
        dialect=args.dialect,
        model=args.model,
        shrink=not args.no_shrink,
        timeout=args.timeout,
        progress=progress,
    )
    if tty:
        print(file=sys.stderr)
    report.print()
    return 0 if report.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        commands = {"serve": _serve, "check": _check, "scenarios": _scenarios, "report": _report, "fuzz": _fuzz}
        return commands[args.command](args)
    except ScenarioErrors as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        return 1
    except MockrouterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
