"""The suite's own servers stay up while other test runs start on the same machine."""

from __future__ import annotations

import os
import socket

import psycopg
import pytest

from tests.support.servers import reserved_port


@pytest.mark.skipif(bool(os.environ.get("TEST_DATABASE_URL")), reason="tests the throwaway server only")
def test_the_throwaway_postgresql_outlives_another_run_making_pytests_folders_private(
    postgres_admin_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Each pytest run that starts on the machine makes the folder of every run's temporary folders
    # private to its owner again; PostgreSQL runs as another user when the tests run as root.
    os.chmod(tmp_path_factory.getbasetemp().parent, 0o700)
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")  # reads the server's control file by its full path
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_reserved_port_refuses_connections_and_no_one_else_can_take_it() -> None:
    with reserved_port() as port:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=10)
        with socket.socket() as other, pytest.raises(OSError, match="in use"):
            other.bind(("127.0.0.1", port))
        with socket.socket() as server:  # a server of the test (SO_REUSEADDR) binds it all the same
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(("127.0.0.1", port))
            server.listen()
            with socket.create_connection(("127.0.0.1", port), timeout=10):
                pass
