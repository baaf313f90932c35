"""The port checks ``dma dev`` makes before it starts anything."""

from __future__ import annotations

import socket

from dma.cli.ports import Port, problems
from tests.stack import free_port


def test_a_listener_is_named_with_the_setting_that_moves_it() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = int(holder.getsockname()[1])
        found = problems([Port("127.0.0.1", taken, "the dma API", "choose another with DMA_PORT=…")])
    assert len(found) == 1 and f"port {taken} (the dma API) is already in use" in found[0]
    assert "DMA_PORT=" in found[0]


def test_a_free_port_and_a_port_left_in_time_wait_are_free() -> None:
    port = free_port()
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port))
        server.listen()
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = server.accept()
            accepted.close()  # the server side closes first: its end of the connection lingers in TIME_WAIT
            client.recv(1)
    assert problems([Port("127.0.0.1", port, "the dma API", "…")]) == []


def test_one_port_for_two_servers_is_refused() -> None:
    port = free_port()
    found = problems([Port("127.0.0.1", port, "the dma API", "a"), Port("127.0.0.1", port, "the Temporal UI", "b")])
    assert found == [f"the Temporal UI and the dma API are both set to port {port}; b"]
