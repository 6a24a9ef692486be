"""``make dev`` restarts a process that dies, and gives up after repeated crashes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from testkit.processes import wait_until

DEV = Path(__file__).resolve().parents[2] / "scripts" / "dev.py"


def _dev_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("dev_script", DEV)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_dead_process_is_restarted_then_given_up_on(capsys) -> None:  # type: ignore[no-untyped-def]
    dev = _dev_module()
    child = dev.Supervised("crasher", [sys.executable, "-c", "raise SystemExit(3)"],
                           max_crashes=3, window=60.0).start()
    now = 1000.0
    wait_until(lambda: child.proc.poll() is not None, 30, what="the child exiting")
    assert child.check(now)  # crash 1: a restart is due after a pause
    assert child.restart_at == now + 0.5
    assert child.check(now + 0.1) and child.restarts == 0  # not before the pause is over
    assert child.check(now + 0.5) and child.restarts == 1  # restarted
    wait_until(lambda: child.proc.poll() is not None, 30, what="the child exiting")
    assert child.check(now + 1)  # crash 2: the pause doubles
    assert child.restart_at == now + 2
    assert child.check(now + 2) and child.restarts == 2
    wait_until(lambda: child.proc.poll() is not None, 30, what="the child exiting")
    assert not child.check(now + 3)  # crash 3 within the window: give up
    err = capsys.readouterr().err
    assert "crasher exited with code 3; restarting in 0.5s (1/3" in err
    assert "3 crashes within 60s, giving up" in err


def test_crashes_older_than_the_window_are_forgotten() -> None:
    dev = _dev_module()
    child = dev.Supervised("crasher", [sys.executable, "-c", "raise SystemExit(1)"],
                           max_crashes=2, window=60.0).start()
    now = 1000.0
    for i in range(4):  # one crash a minute and more: never gives up
        wait_until(lambda: child.proc.poll() is not None, 30, what="the child exiting")
        t = now + i * 61
        assert child.check(t)
        assert child.check(t + 1)
        assert child.restarts == i + 1
    child.stop()
    child.wait(5)


def test_a_running_process_is_left_alone_and_stopped_on_request() -> None:
    dev = _dev_module()
    child = dev.Supervised("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"]
                           ).start()
    try:
        assert child.check(0.0) and child.alive and child.restarts == 0
    finally:
        child.stop()
        child.wait(10)
    assert not child.alive


def test_a_burst_of_stop_signals_stops_it_promptly() -> None:
    """However many SIGTERMs arrive (a group kill and uv forwarding it, say), the stop
    request is taken and the loop ends: the handler takes no lock."""
    import os
    import signal
    import subprocess
    import time

    program = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('dev_script', {str(DEV)!r})\n"
        "dev = importlib.util.module_from_spec(spec); spec.loader.exec_module(dev)\n"
        "stop = dev.StopRequest(); stop.install()\n"
        "print('ready', flush=True)\n"
        "while not stop.wait(0.001): pass\n"
        "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the test's later ones\n"
        "print('stopped', flush=True)\n")
    proc = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        for _ in range(300):
            os.kill(proc.pid, signal.SIGTERM)
            time.sleep(0.0005)
        assert proc.wait(10) == 0
        assert proc.stdout.read() == b"stopped\n"
    finally:
        proc.kill()
        proc.wait()


def test_make_dev_points_the_console_at_the_stack() -> None:
    dev = _dev_module()
    env = dev.console_env("amqp://u:p%40ss@127.0.0.1:5681/my%2Fvhost,amqp://u:p@h2:5682/x",
                          "http://127.0.0.1:15681", {})
    assert env["CONSOLE_AMQP_URL"] == "amqp://u:p%40ss@127.0.0.1:5681/my%2Fvhost"
    assert (env["CONSOLE_RABBITMQ_USER"], env["CONSOLE_RABBITMQ_PASSWORD"]) == ("u", "p@ss")
    assert env["CONSOLE_VHOST"] == "my/vhost"
    assert env["CONSOLE_RABBITMQ_API"] == "http://127.0.0.1:15681"
    assert env["CONSOLE_OPS_TOKEN"] == dev.DEV_OPS_TOKEN and env["CONSOLE_PORT"] == "8009"
    assert env["CONSOLE_HOST"] == "127.0.0.1"
    given = dev.console_env("amqp://guest:guest@127.0.0.1:5672/", "http://x:15672",
                            {"OPS_TOKEN": "s3cret", "CONSOLE_PORT": "9009"})
    assert given["CONSOLE_OPS_TOKEN"] == "s3cret" and given["CONSOLE_PORT"] == "9009"
    assert given["CONSOLE_VHOST"] == "/"
