"""Headless Chromium for the reports: print to PDF, and open a page the way a reader would.

Chromium is driven over the DevTools protocol through a pipe (``--remote-debugging-pipe``: JSON
messages separated by NUL bytes on file descriptors 3 and 4), so no port is opened and no
websocket library is needed. Chromium is found on the PATH (``chromium``, ``chromium-browser``,
``google-chrome`` ...) or named by ``TOOLKIT_CHROMIUM``; without it, :class:`BrowserMissing` says
how to install it.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from toolkit.errors import ToolkitError
from toolkit.io import write_atomic

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
TIMEOUT_S = 60.0


class BrowserMissing(ToolkitError):
    """No Chromium to drive (exit 2: the user's machine, not a bug)."""

    exit_code = 2


class BrowserError(ToolkitError):
    """Chromium started but did not do what was asked (crashed, timed out)."""


def find_chromium() -> str | None:
    """The Chromium executable to use, or None.

    Examples
    --------
    >>> find_chromium() is None or Path(find_chromium()).name != ""
    True
    """
    named = os.environ.get("TOOLKIT_CHROMIUM")
    if named:
        return shutil.which(named) or (named if Path(named).is_file() else None)
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


_TRAMPOLINE = (
    "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
    "os.execv(sys.argv[3], sys.argv[3:])"
)


def _high(fd: int) -> int:
    """``fd`` moved to a descriptor number of at least 10 (the original is closed)."""
    import fcntl

    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high


def _require() -> str:
    exe = find_chromium()
    if exe is None:
        raise BrowserMissing(
            "Chromium is not installed (looked for "
            + ", ".join(CANDIDATES)
            + " on the PATH, and TOOLKIT_CHROMIUM): install it (Debian/Ubuntu: "
            "`apt-get install chromium`; macOS: Google Chrome) or print report.html from a "
            "browser"
        )
    return exe


class Browser:
    """One headless Chromium with one page, spoken to over the DevTools pipe.

    Use as a context manager; :meth:`open` loads a page and collects what a reader's browser
    would complain about (console errors, exceptions, failed or outside requests).
    """

    def __init__(self, width: int = 1280, height: int = 1600) -> None:
        self.width, self.height = width, height
        self._next = 0
        self._buffer = b""
        self.events: list[dict[str, Any]] = []

    def __enter__(self) -> Browser:
        exe = _require()
        self._profile = tempfile.mkdtemp(prefix="toolkit-chromium-")
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # above 4, so that putting one end on 3 or 4 cannot overwrite the other before it moves
        to_chrome_r, from_chrome_w = (_high(fd) for fd in (to_chrome_r, from_chrome_w))
        args = [
            "--headless",
            "--no-sandbox",  # containers and CI run as root, where the sandbox cannot start
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--no-first-run",
            "--no-default-browser-check",
            "--mute-audio",
            "--hide-scrollbars",
            f"--user-data-dir={self._profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        # the protocol wants the pipe on descriptors 3 (to Chromium) and 4 (from it); a tiny
        # Python trampoline puts it there (a POSIX shell's `3<&N` takes single digits only)
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _TRAMPOLINE, str(to_chrome_r), str(from_chrome_w), exe, *args],
            pass_fds=(to_chrome_r, from_chrome_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        try:
            target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
            self._session = self._call(
                "Target.attachToTarget", {"targetId": target, "flatten": True}
            )["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                self.call(f"{domain}.enable")
            self.call(
                "Emulation.setDeviceMetricsOverride",
                {
                    "width": self.width,
                    "height": self.height,
                    "deviceScaleFactor": 1,
                    "mobile": False,
                },
            )
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._proc.poll() is None:
                try:
                    self._call("Browser.close", timeout=5)
                except (BrowserError, OSError):
                    pass
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
        finally:
            for fd in (self._to_chrome, self._from_chrome):
                try:
                    os.close(fd)
                except OSError:
                    pass
            shutil.rmtree(self._profile, ignore_errors=True)

    # --- protocol -----------------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> int:
        self._next += 1
        message["id"] = self._next
        data = json.dumps(message).encode() + b"\0"
        while data:
            n = os.write(self._to_chrome, data)
            data = data[n:]
        return self._next

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_chrome], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise BrowserError("Chromium stopped (its DevTools pipe closed)")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def _call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        timeout: float = TIMEOUT_S,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {"method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        wanted = self._send(message)
        deadline = time.monotonic() + timeout
        while True:
            msg = self._receive(deadline)
            if msg.get("id") == wanted:
                if "error" in msg:
                    raise BrowserError(f"Chromium refused {method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one DevTools command to the page and return its result."""
        return self._call(method, params, self._session)

    def _wait_for(self, event: str, timeout: float = TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        if any(e.get("method") == event for e in self.events):
            return
        while True:
            msg = self._receive(deadline)
            if "method" in msg:
                self.events.append(msg)
                if msg["method"] == event:
                    return

    # --- what the reports need ----------------------------------------------------------------

    def open(self, page: str | Path) -> dict[str, Any]:
        """Load ``page`` and return what the reader would meet.

        Returns a dict: ``title``; ``headings`` (the h2 texts); ``images`` (alt, naturalWidth,
        naturalHeight of every ``img``); ``errors`` (console errors, uncaught exceptions, log
        errors); ``requests`` (every URL fetched that is not the page itself or a ``data:`` URL).
        """
        url = Path(page).resolve().as_uri()
        self.events.clear()
        self.call("Page.navigate", {"url": url})
        self._wait_for("Page.loadEventFired")
        # images decode asynchronously after the load event in some builds: wait for them
        state = self.call(
            "Runtime.evaluate",
            {
                "expression": """(async () => {
                    await Promise.all([...document.images].map(i => i.decode().catch(() => null)));
                    return JSON.stringify({
                        title: document.title,
                        headings: [...document.querySelectorAll('h2')]
                            .map(h => h.textContent.trim()),
                        images: [...document.images].map(i => ({alt: i.alt,
                            naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight})),
                    });
                })()""",
                "awaitPromise": True,
                "returnByValue": True,
            },
        )
        found = json.loads(state["result"]["value"])
        errors, requests = [], []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                errors.append(
                    " ".join(str(a.get("value", a.get("description"))) for a in p["args"])
                )
            elif m == "Runtime.exceptionThrown":
                errors.append(p.get("exceptionDetails", {}).get("text", "exception"))
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                errors.append(p["entry"].get("text", ""))
            elif m == "Network.requestWillBeSent":
                req = p.get("request", {}).get("url", "")
                if req != url and not req.startswith("data:"):
                    requests.append(req)
            elif m == "Network.loadingFailed":
                errors.append(f"failed to load: {p.get('errorText')}")
        found["errors"] = errors
        found["requests"] = requests
        return found

    def screenshot(self, path: str | Path, full_page: bool = False) -> Path:
        """Save a PNG of the page as it is displayed (the first screen, or the whole page)."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            metrics = self.call("Page.getLayoutMetrics")
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            params["clip"] = {
                "x": 0,
                "y": 0,
                "width": size["width"],
                "height": size["height"],
                "scale": 1,
            }
            params["captureBeyondViewport"] = True
        data = self.call("Page.captureScreenshot", params)["data"]
        path = Path(path)
        path.write_bytes(base64.b64decode(data))
        return path

    def pdf(self) -> bytes:
        """The loaded page printed as PDF (A4, backgrounds on)."""
        data = self.call(
            "Page.printToPDF",
            {"printBackground": True, "paperWidth": 8.27, "paperHeight": 11.69},
        )["data"]
        return base64.b64decode(data)


def print_pdf(html: str | Path, pdf: str | Path) -> Path:
    """Print ``html`` to ``pdf`` with headless Chromium (written atomically).

    Raises :class:`BrowserMissing` when Chromium is not installed.
    """

    with Browser() as browser:
        browser.open(html)
        data = browser.pdf()
    with write_atomic(pdf) as tmp:
        tmp.write_bytes(data)
    return Path(pdf)
