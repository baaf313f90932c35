"""The persistent shell: one long-lived bash per sandbox, driven by a sentinel protocol over its stdin/stdout.

Each command goes down as one line, ``__dma_run $'<command>' <nonce>``, which ``eval``s the command in the shell itself
(so ``cd`` and ``export`` persist) with stdin from /dev/null (so a command can never eat the protocol) and then prints
the marker ``__DMA_DONE_<nonce>_<status>`` on a line of its own. Output is read incrementally into a capped buffer
until that marker shows up.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from typing import Protocol

from activities.sandboxes.base import ExecResult, SandboxError
from activities.sandboxes.output import CappedOutput, MarkerScanner, ansi_c_quote

# After a timeout the command's processes are killed; this is how long the shell gets to report back before it is
# declared stuck (a builtin loop such as ``while :; do :; done`` runs in the shell itself) and replaced.
KILL_GRACE_SECONDS = 3.0
KILL_REPEAT_SECONDS = 0.2
READY_TIMEOUT_SECONDS = 20.0

_PRELUDE = 'exec 2>&1\n__dma_run() { eval "$1" </dev/null; printf \'\\n__DMA_DONE_%s_%d\\n\' "$2" "$?"; }\n'


class ShellChannel(Protocol):
    """The byte pipe to a running ``bash`` (its stdin, and its stdout with stderr merged)."""

    async def read(self) -> bytes:
        """The next chunk of output; ``b""`` once the shell is gone."""
        ...

    async def write(self, data: bytes) -> None: ...

    async def close(self) -> None:
        """Kill the shell and release the pipe."""
        ...


class PersistentShell:
    """Runs commands one at a time in a shell that keeps its cwd and environment between them."""

    def __init__(
        self, channel: ShellChannel, interrupt: Callable[[], Awaitable[None]], output_bytes: int, label: str
    ) -> None:
        """Wrap an already running shell.

        Args:
            channel: The shell's pipe.
            interrupt: Kills whatever the current command started, leaving the shell itself alive.
            output_bytes: Output kept per command.
            label: Names the sandbox in error messages.
        """
        self._channel = channel
        self._interrupt = interrupt
        self._cap = output_bytes
        self._label = label
        self._lock = asyncio.Lock()
        self.alive = True
        self.pid: int | None = None

    async def handshake(self) -> None:
        """Install the protocol and learn the shell's pid; ``SandboxError`` with the shell's output if it died."""
        await self._channel.write(_PRELUDE.encode())
        result = await self.run("echo $$", READY_TIMEOUT_SECONDS)
        text = result.text().strip()
        if result.exit_code != 0 or not text.isdigit():
            await self.close()
            raise SandboxError(f"the shell of sandbox {self._label} did not start: {text[-2000:] or 'no output'}")
        self.pid = int(text)

    async def run(self, command: str, timeout: float) -> ExecResult:
        """Run ``command``; on timeout kill what it started, and replace the shell if it does not come back."""
        async with self._lock:
            if not self.alive:
                return ExecResult(b"", None, 0, shell_lost=True)
            nonce = secrets.token_hex(8)
            sink = CappedOutput(self._cap)
            scanner = MarkerScanner(nonce, sink)
            line = f"__dma_run {ansi_c_quote(command)} {nonce}\n".encode()
            try:
                finished = await asyncio.wait_for(self._send_and_pump(line, scanner), timeout)
            except TimeoutError:
                return await self._after_timeout(scanner, sink)
            except asyncio.CancelledError:
                # The protocol state is unknown once a read was abandoned; a fresh shell is the only safe next step.
                await asyncio.shield(self._abandon())
                raise
            if not finished:
                return await self._died(scanner, sink)
            return ExecResult(sink.value(), scanner.status, sink.total)

    async def _send_and_pump(self, line: bytes, scanner: MarkerScanner) -> bool:
        await self._channel.write(line)
        return await self._pump(scanner)

    async def _pump(self, scanner: MarkerScanner) -> bool:
        while True:
            chunk = await self._channel.read()
            if not chunk:
                return False
            if scanner.feed(chunk):
                return True

    async def _after_timeout(self, scanner: MarkerScanner, sink: CappedOutput) -> ExecResult:
        # Killing the running program does not stop the rest of a command list (``sleep 9; make``), so the kill is
        # repeated until the shell reports back; a shell that never does is busy itself and gets replaced.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + KILL_GRACE_SECONDS
        pump = asyncio.ensure_future(self._pump(scanner))
        finished = False
        while True:
            await self._interrupt()
            done, _ = await asyncio.wait({pump}, timeout=KILL_REPEAT_SECONDS)
            if done:
                finished = pump.result()
                break
            if loop.time() >= deadline:
                pump.cancel()
                break
        if finished:
            return ExecResult(sink.value(), scanner.status, sink.total, timed_out=True)
        scanner.flush()
        await self.close()
        return ExecResult(sink.value(), None, sink.total, timed_out=True, shell_lost=True)

    async def _died(self, scanner: MarkerScanner, sink: CappedOutput) -> ExecResult:
        scanner.flush()
        await self.close()
        return ExecResult(sink.value(), None, sink.total, shell_lost=True)

    async def _abandon(self) -> None:
        try:
            await self._interrupt()
        finally:
            await self.close()

    async def close(self) -> None:
        """Kill the shell (idempotent)."""
        self.alive = False
        await self._channel.close()
