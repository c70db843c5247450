"""In-process tests of the server's watch for a client hanging up
(engine.connection.HangupMonitor): a hang-up during the command is acted on,
one after close() never is, and the monitor's thread leaves with its pipe closed."""

from __future__ import annotations

import os
import socket
import threading

from wasmelt.engine.connection import HangupMonitor

WAIT_S = 30  # only an upper bound on a thread being scheduled: never reached when it works


def _left(monitor: HangupMonitor) -> bool:
    """Whether the monitor's thread left, closing its pipe (waited for up to WAIT_S)."""
    done = threading.Event()
    for _ in range(WAIT_S * 100):
        try:
            os.fstat(monitor.wake_r)
        except OSError:
            return True
        done.wait(0.01)
    return False


def test_a_hangup_during_the_command_interrupts_it():
    server, client = socket.socketpair()
    hung = threading.Event()
    monitor = HangupMonitor(hung.set, server)
    client.close()
    assert hung.wait(WAIT_S)
    monitor.close()  # after the thread left: close() closes the pipe
    try:
        os.fstat(monitor.wake_r)
        raise AssertionError("the wake-up pipe is still open")
    except OSError:
        pass
    server.close()


def test_a_hangup_after_close_is_not_acted_on():
    server, client = socket.socketpair()
    calls = []
    monitor = HangupMonitor(lambda: calls.append("hung up"), server)
    monitor.close()
    client.close()  # the client leaves once it has its answer
    server.close()
    assert _left(monitor)
    assert calls == []
