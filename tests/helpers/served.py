"""A ``pachlet serve`` subprocess on a free port, for the tests that drive it with real clients."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import python_pachyderm

PACHLET = str(Path(sys.executable).with_name("pachlet"))
LISTENING = re.compile(r"listening on (\S+):(\d+)")


class Served:
    """A `pachlet serve` subprocess on a free port."""

    def __init__(self, root: Path, *extra: str) -> None:
        self.root = root
        root.parent.mkdir(parents=True, exist_ok=True)
        self.stderr_path = root.parent / f"{root.name}-serve-{time.monotonic_ns()}.err"
        self._stderr = open(self.stderr_path, "w")  # noqa: SIM115 - a file, not an undrained pipe; closed in stop
        self.proc = subprocess.Popen(
            [PACHLET, "--root", str(root), "serve", "--port", "0", "--poll", "0.2", *extra],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        m = LISTENING.search(line)
        if m is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError(f"pachlet serve did not start: {line!r} {self.stderr_path.read_text()}")
        self.host = m.group(1)
        self.port = int(m.group(2))
        self.address = f"localhost:{self.port}"

    def client(self) -> python_pachyderm.Client:
        """A fresh python-pachyderm client."""
        return python_pachyderm.Client("localhost", self.port)

    def stop(self) -> tuple[int, str, str]:
        """SIGTERM; returns (exit code, stdout, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=60)
        self._stderr.close()
        return self.proc.returncode, out, self.stderr_path.read_text()

    def wait_exit(self) -> tuple[int, str]:
        """Wait for the process to exit by itself; returns (exit code, stderr)."""
        self.proc.communicate(timeout=60)
        self._stderr.close()
        return self.proc.returncode, self.stderr_path.read_text()
