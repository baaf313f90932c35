"""Operator verbs: ``dma dev``, ``dma api``, ``dma worker`` and ``dma migrate``.

The server entrypoints (``api``, ``workers``) are imported inside each command, so the people verbs never load them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import SecretStr

from dma import event_loop
from dma.cli.banner import DevInfo, banner
from dma.cli.devkey import dev_key_path, ensure_dev_key
from dma.cli.output import err, fail, out
from dma.cli.ports import Port, problems
from dma.cli.secretkey import dev_secret_key, require_secret_key
from dma.settings import ApiSettings, CommonSettings, DevSettings, WorkerSettings

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
EXAMPLES = Path("examples")

HostOpt = Annotated[str | None, typer.Option(help="Interface the API listens on [env: DMA_HOST].")]
PortOpt = Annotated[int | None, typer.Option(help="Port of the API [env: DMA_PORT; default 8787].")]


def register(app: typer.Typer) -> None:
    """Add the operator verbs to the ``dma`` command."""
    for command in (dev, api, worker, migrate):
        app.command()(command)


def dev(
    host: HostOpt = None,
    port: PortOpt = None,
    temporal_port: Annotated[
        int | None, typer.Option(help="Port of the Temporal dev server [env: DMA_TEMPORAL_PORT; default 7233].")
    ] = None,
    ui_port: Annotated[
        int | None,
        typer.Option(help="Port of the Temporal Web UI; 0 runs it headless [env: DMA_TEMPORAL_UI_PORT; default 8233]."),
    ] = None,
    keyless: Annotated[bool, typer.Option(help="Accept requests without a key (loopback only).")] = False,
) -> None:
    """Temporal dev server, migrations, a worker and the API, all in one; Ctrl-C stops them all."""
    from workers.dev import DevStartError, run_dev

    settings = DevSettings()
    host = host or settings.host
    port = port or settings.port
    t_port = temporal_port or settings.temporal_port
    u_port = settings.temporal_ui_port if ui_port is None else ui_port
    if keyless and host not in LOOPBACK:
        fail("--keyless is only allowed on a loopback host", code=2)
    taken = problems(_dev_ports(host, port, t_port, u_port))
    if taken:
        for problem in taken:
            err.print(f"[bold red]error:[/] {problem}")
        fail("dma dev started nothing", code=1)
    from dma.cli import logs

    logs.configure(settings.log_level)
    key = ensure_dev_key(settings.data_dir)
    secret = settings.secret_key or SecretStr(dev_secret_key(settings.data_dir))
    ui_url = settings.temporal_ui_url or (f"http://127.0.0.1:{u_port}" if u_port else "")
    api_settings = settings.model_copy(
        update={
            "host": host,
            "port": port,
            "api_keys": [*settings.api_keys, key],
            "dev_keyless": keyless,
            "temporal_address": f"127.0.0.1:{t_port}",
            "temporal_ui_url": ui_url,
            "secret_key": secret,
        }
    )
    require_secret_key(api_settings)
    worker_settings = WorkerSettings().model_copy(update={"secret_key": secret})
    info = DevInfo(
        api_url=f"http://{host}:{port}",
        key=key,
        key_file=dev_key_path(settings.data_dir),
        temporal_address=api_settings.temporal_address,
        temporal_ui_url=ui_url,
        temporal_cli=str(Path(sys.executable).parent / "temporal"),
        dma_cli=str(Path(sys.executable).parent / "dma"),
        examples_dir=str(EXAMPLES) + "/" if EXAMPLES.is_dir() else None,
        data_dir=settings.data_dir.resolve(),
        keyless=keyless,
    )
    err.print(f"starting dma dev (data dir {info.data_dir}) …")
    try:
        run_dev(api_settings, worker_settings, t_port, u_port or None, lambda: out.print(banner(info), markup=False))
    except DevStartError as error:
        fail(f"{error}\ndma dev stopped everything it had started")
    except KeyboardInterrupt:
        pass
    out.print("stopped")


def _dev_ports(host: str, port: int, temporal_port: int, ui_port: int) -> list[Port]:
    ports = [
        Port(host, port, "the dma API", "choose another with DMA_PORT=… or --port …"),
        Port(
            "127.0.0.1",
            temporal_port,
            "the Temporal dev server",
            "choose another with DMA_TEMPORAL_PORT=… or --temporal-port …",
        ),
    ]
    if ui_port:
        moved_by = "choose another with DMA_TEMPORAL_UI_PORT=… or --ui-port … (0 runs no Web UI)"
        ports.append(Port("127.0.0.1", ui_port, "the Temporal Web UI", moved_by))
    return ports


def api(host: HostOpt = None, port: PortOpt = None) -> None:
    """Run the API façade."""
    import uvicorn

    from api.app import create_app
    from dma.heap import freeze_startup_heap

    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    settings = ApiSettings(**overrides)  # pyright: ignore[reportArgumentType] - validated by pydantic-settings
    if settings.dev_keyless and settings.host not in LOOPBACK:
        fail("refusing DMA_DEV_KEYLESS on a non-loopback host", code=2)
    require_secret_key(settings)
    taken = problems([Port(settings.host, settings.port, "the dma API", "choose another with DMA_PORT=… or --port …")])
    if taken:
        fail(taken[0])
    from dma.cli import logs

    logs.configure(settings.log_level)
    if not settings.api_keys and not settings.dev_keyless:
        err.print("warning: DMA_API_KEYS is empty; only keys stored in the database are accepted")
    err.print(f"dma api listening on http://{settings.host}:{settings.port} (Ctrl-C stops it)")
    app = create_app(settings)
    freeze_startup_heap()
    # uvicorn picks uvloop and httptools (both dependencies) on its own ("auto").
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)


def worker() -> None:
    """Run a worker (as many as you like, on any host sharing Temporal and the database)."""
    from dma.cli import logs
    from workers.main import serve

    settings = WorkerSettings()
    logs.configure(settings.log_level)
    require_secret_key(settings)
    err.print(f"dma worker polling {settings.task_queue} at {settings.temporal_address} (Ctrl-C stops it)")
    try:
        event_loop.run(serve(settings))
    except KeyboardInterrupt:
        pass
    err.print("stopped")


def migrate() -> None:
    """Bring the database schema up to date."""
    from dma.cli import logs
    from dma.store import migrate as migrations

    settings = CommonSettings()
    logs.configure(settings.log_level)
    migrations.upgrade(settings.resolved_database_url())
    out.print(f"database is up to date: {settings.resolved_database_url()}", markup=False)
