"""Process and port helpers shared by the local stack's services.

Services run detached from the CLI (their own session) with a pid file each. PID 1 on these
machines reaps exited children late, so "alive" means: /proc/PID exists and is not a zombie.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from featurelake.errors import ConfigError, ServiceUnavailableError

from .config import HOST

T = TypeVar("T")
Echo = Callable[[str], None]


def pid_alive(pid: int | None) -> bool:
    """True if ``pid`` is a running process (a zombie counts as gone)."""
    if not pid or pid <= 0:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    # The state follows the parenthesised command name, which may itself contain spaces.
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X")


def cmdline(pid: int) -> str:
    """The process's command line joined by spaces ('' if it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def read_pid(path: Path) -> int | None:
    """The pid in a pid file (first line), or None if the file is missing or malformed."""
    try:
        first = path.read_text().splitlines()[0].strip()
    except (OSError, IndexError):
        return None
    return int(first) if first.isdigit() else None


def live_pid(path: Path, marker: str) -> int | None:
    """The pid from ``path`` if that process is alive and its command line contains ``marker``.

    The marker guards against a recycled pid belonging to an unrelated process.
    """
    pid = read_pid(path)
    if pid is not None and pid_alive(pid) and marker in cmdline(pid):
        return pid
    return None


def port_in_use(port: int, host: str = HOST) -> bool:
    """True if something listens on ``host:port`` (or the port cannot be bound for another reason)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Like the servers themselves: TIME_WAIT leftovers must not count as "in use".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            if err.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    return False


def ensure_port_free(port: int, *, what: str, env_var: str) -> None:
    """Fail with a clear message if ``port`` is taken by a process that is not ours.

    Raises:
        ConfigError: naming the port, what needed it and the variable that moves it.
    """
    if port_in_use(port):
        raise ConfigError(
            f"port {HOST}:{port} (needed by {what}) is already in use by another process; "
            f"stop that process or pick another port with {env_var}=<port> (e.g. {env_var}={port + 100})"
        )


def port_answers(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    """True if a TCP connection to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def spawn(
    argv: Sequence[str],
    *,
    log: Path,
    pid_file: Path | None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` detached (own session, so it outlives the CLI), output appended to ``log``.

    Args:
        argv: the command.
        log: file that receives stdout and stderr.
        pid_file: where to record the pid (None: the program writes its own).
        env: extra environment variables.
        cwd: working directory.

    Returns:
        The started process.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **dict(env or {})}
    with open(log, "ab") as out:
        proc = subprocess.Popen(  # noqa: S603 - argv is built by us, never by a shell
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
    if pid_file is not None:
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        pid_file.write_text(f"{proc.pid}\n")
    return proc


def run(
    argv: Sequence[str],
    *,
    what: str,
    log: Path | None = None,
    timeout: float = 120,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run a short command to completion; on failure raise with its output and the log to read.

    Raises:
        ServiceUnavailableError: the command failed or timed out.
    """
    try:
        res = subprocess.run(  # noqa: S603 - argv is built by us
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **dict(env or {})},
            start_new_session=True,
            check=False,
        )
    except subprocess.TimeoutExpired:
        hint = f"; read {log}" if log else ""
        raise ServiceUnavailableError(f"{what} did not finish within {timeout:.0f}s{hint}") from None
    if res.returncode != 0:
        hint = f"; read {log}" if log else ""
        out = (res.stderr.strip() or res.stdout.strip())[-800:]
        raise ServiceUnavailableError(f"{what} failed (exit {res.returncode}): {out}{hint}")
    return res.stdout


def wait_until(
    check: Callable[[], T | None],
    *,
    what: str,
    timeout: float,
    log: Path | None,
    pid: int | None = None,
    interval: float = 0.25,
) -> T:
    """Poll ``check`` until it returns a truthy value, or fail naming the log file to read.

    Args:
        check: returns a truthy value when ready; exceptions count as "not yet".
        what: what we wait for, for the error message.
        timeout: seconds before giving up.
        log: the log file the error message points to.
        pid: if given and that process dies, fail at once instead of waiting out the timeout.
        interval: seconds between polls.

    Returns:
        The first truthy value ``check`` returned.

    Raises:
        ServiceUnavailableError: timed out, or the process exited.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    hint = f"; read {log}" if log else ""
    while True:
        try:
            value = check()
            if value:
                return value
        except Exception as err:  # noqa: BLE001 - any failure means "not ready yet"
            last_error = err
        if pid is not None and not pid_alive(pid):
            raise ServiceUnavailableError(f"{what}: the process (pid {pid}) exited while starting{hint}")
        if time.monotonic() > deadline:
            cause = f" (last error: {type(last_error).__name__}: {last_error})" if last_error else ""
            raise ServiceUnavailableError(f"timed out after {timeout:.0f}s waiting for {what}{cause}{hint}")
        time.sleep(interval)


def stop_pid(pid: int, *, what: str, timeout: float = 20.0) -> None:
    """SIGTERM ``pid`` (then SIGKILL after ``timeout``) and wait until it is really gone.

    Raises:
        ServiceUnavailableError: the process survived SIGKILL.
    """
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return
            time.sleep(0.1)
    raise ServiceUnavailableError(f"{what} (pid {pid}) did not exit after SIGKILL; check `ps -p {pid}`")


def wait_gone(pid: int, *, what: str, timeout: float = 30.0) -> None:
    """Wait until ``pid`` has exited (zombies count as exited).

    Raises:
        ServiceUnavailableError: still running after ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            raise ServiceUnavailableError(f"{what} (pid {pid}) still running after {timeout:.0f}s")
        time.sleep(0.1)
