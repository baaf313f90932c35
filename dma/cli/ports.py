"""The port checks ``dma dev`` makes before it starts anything: a taken port is one clear message, not a traceback."""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class Port:
    """A port ``dma dev`` will listen on, and how a person moves it."""

    host: str
    number: int
    what: str
    moved_by: str

    def problem(self) -> str | None:
        """Why this port cannot be used, or None when it is free."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # What the servers themselves set: a port left in TIME_WAIT by an earlier run is free, a listener is not.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((self.host, self.number))
            except PermissionError:
                return f"port {self.number} ({self.what}) needs privileges to listen on; {self.moved_by}"
            except OSError as err:
                if err.errno == errno.EADDRINUSE:
                    return (
                        f"port {self.number} ({self.what}) is already in use on {self.host}: stop what listens there"
                        f" (`ss -ltnp 'sport = :{self.number}'` shows it) or {self.moved_by}"
                    )
                return f"cannot listen on {self.host}:{self.number} ({self.what}): {err.strerror}; {self.moved_by}"
        return None


def problems(ports: list[Port]) -> list[str]:
    """One message per port that is taken (or duplicated), in the order given."""
    found: list[str] = []
    seen: dict[int, Port] = {}
    for port in ports:
        earlier = seen.get(port.number)
        if earlier is not None:
            found.append(f"{port.what} and {earlier.what} are both set to port {port.number}; {port.moved_by}")
            continue
        seen[port.number] = port
        problem = port.problem()
        if problem is not None:
            found.append(problem)
    return found
