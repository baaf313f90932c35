"""The ``dma`` command. It only parses arguments and dispatches to the entrypoints (imported lazily)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import sys
from pathlib import Path

from dma.settings import ApiSettings, CommonSettings, WorkerSettings

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# Modules of the ``bench`` extra: ``dma bench`` names the extra when one is missing.
BENCH_EXTRA_MODULES = frozenset({"psutil"})


# Libraries whose DEBUG lines carry SQL statement parameters (a repository token, a memory's content): never below INFO.
QUIET_LOGGERS = ("aiosqlite", "sqlalchemy.engine")


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLogger().level))


def cmd_migrate(_: argparse.Namespace) -> int:
    """``dma migrate``."""
    from dma.store import migrate

    settings = CommonSettings()
    migrate.upgrade(settings.resolved_database_url())
    print(f"database is up to date: {settings.resolved_database_url()}")
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    """``dma api``."""
    import uvicorn

    from api.app import create_app

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = ApiSettings(**overrides)  # pyright: ignore[reportArgumentType] - validated by pydantic-settings
    _logging(settings.log_level)
    if settings.dev_keyless and settings.host not in LOOPBACK:
        print("refusing DMA_DEV_KEYLESS on a non-loopback host", file=sys.stderr)
        return 2
    if not settings.api_keys and not settings.dev_keyless:
        print("warning: DMA_API_KEYS is empty; only keys stored in the database are accepted", file=sys.stderr)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level.lower())
    return 0


def cmd_worker(_: argparse.Namespace) -> int:
    """``dma worker``."""
    from workers.main import serve

    settings = WorkerSettings()
    _logging(settings.log_level)
    try:
        asyncio.run(serve(settings))
    except KeyboardInterrupt:
        pass
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    """``dma keys create|list|revoke``: API keys stored hashed in the database."""
    from dma.store import api_keys
    from dma.store.engine import Database

    settings = CommonSettings()

    async def run() -> int:
        db = Database.connect(settings.resolved_database_url())
        try:
            if args.action == "create":
                row, key = await api_keys.create(db, args.name or "")
                print(f"{row.id}\t{key}\n(the key is shown only now; it is stored hashed)")
            elif args.action == "list":
                for row in await api_keys.list_keys(db):
                    state = "revoked" if row.revoked_at else "active"
                    print(f"{row.id}\t{row.name}\t{state}\t{row.created_at.isoformat()}")
            elif not await api_keys.revoke(db, args.key_id or ""):
                print(f"no API key {args.key_id!r}", file=sys.stderr)
                return 1
            return 0
        finally:
            await db.dispose()

    return asyncio.run(run())


def _dev_api_key(data_dir: Path) -> str:
    """A key kept in the data dir, so ``dma dev`` prints the same key every time."""
    path = data_dir / "dev-api-key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = "dma-dev-" + secrets.token_urlsafe(24)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def cmd_dev(args: argparse.Namespace) -> int:
    """``dma dev``."""
    from workers.dev import run_dev

    settings = ApiSettings()
    host = args.host or settings.host
    if args.keyless and host not in LOOPBACK:
        print("--keyless is only allowed on a loopback host", file=sys.stderr)
        return 2
    key = _dev_api_key(settings.data_dir)
    api = settings.model_copy(
        update={
            "host": host,
            "port": args.port or settings.port,
            "api_keys": [*settings.api_keys, key],
            "dev_keyless": args.keyless,
            "temporal_address": f"127.0.0.1:{args.temporal_port}",
        }
    )
    _logging(settings.log_level)
    return run_dev(api, WorkerSettings(), key, args.temporal_port, args.ui_port)


def cmd_bench(args: argparse.Namespace) -> int:
    """``dma bench``: runs ``bench/`` of the source checkout, which the installed package does not contain."""
    import importlib

    root = Path(__file__).resolve().parent.parent
    if not (root / "bench" / "__main__.py").is_file():
        print(f"dma bench needs a source checkout: no bench/ in {root}", file=sys.stderr)
        return 2
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        bench = importlib.import_module("bench.__main__")
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] not in BENCH_EXTRA_MODULES:
            raise
        print(f"dma bench needs the bench extra ({err.name} is missing): pip install 'dma[bench]'", file=sys.stderr)
        return 2
    return int(bench.main(args.bench_args))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dma`` console script."""
    parser = argparse.ArgumentParser(prog="dma", description="Durable Managed Agents")
    commands = parser.add_subparsers(dest="command", required=True)
    dev = commands.add_parser("dev", help="Temporal dev server + migrations + worker + API, all in one")
    dev.add_argument("--host", default=None)
    dev.add_argument("--port", type=int, default=None)
    dev.add_argument("--temporal-port", type=int, default=7233)
    dev.add_argument("--ui-port", type=int, default=8233)
    dev.add_argument("--keyless", action="store_true", help="accept requests without a key (loopback only)")
    dev.set_defaults(run=cmd_dev)
    api = commands.add_parser("api", help="run the API façade")
    api.add_argument("--host", default=None)
    api.add_argument("--port", type=int, default=None)
    api.set_defaults(run=cmd_api)
    commands.add_parser("worker", help="run a worker").set_defaults(run=cmd_worker)
    commands.add_parser("migrate", help="bring the database schema up to date").set_defaults(run=cmd_migrate)
    keys = commands.add_parser("keys", help="create, list or revoke API keys stored in the database")
    keys.add_argument("action", choices=["create", "list", "revoke"])
    keys.add_argument("key_id", nargs="?", help="the key id to revoke (apikey_…)")
    keys.add_argument("--name", default="", help="a label for a new key")
    keys.set_defaults(run=cmd_keys)
    # ``dma bench --help`` is the benchmark's own help: its options pass through untouched.
    bench = commands.add_parser("bench", help="measure latency, throughput and idle cost", add_help=False)
    bench.set_defaults(run=cmd_bench)
    args, rest = parser.parse_known_args(argv)
    if args.run is not cmd_bench and rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.bench_args = rest
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
