"""Headless Chromium driven over the Chrome DevTools protocol (a websocket).

Only the system's ``chromium`` is used (Debian's package; ``.ci/run``
installs it when missing): nothing is downloaded at run time. The browser
runs with a throwaway profile and no network beyond the page's own file.
Every console error, uncaught exception and dialog (``alert``) of the page is
recorded as a problem.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websocket

#: The browser executable looked for on PATH.
CHROMIUM = "chromium"
#: Seconds to wait for the browser to start and for a page to load.
START_TIMEOUT = 60.0
#: Records every alert/confirm/prompt the page calls, before any of its scripts run.
DIALOG_TRAP = """
window.__dialogs = [];
for (const name of ["alert", "confirm", "prompt"]) {
  window[name] = (message) => { window.__dialogs.push(name + ": " + message); };
}
"""


def chromium_path() -> str | None:
    """The system Chromium, if installed."""
    return shutil.which(CHROMIUM)


@dataclass
class Page:
    """A browser tab: call DevTools methods, evaluate JavaScript, take screenshots."""

    socket: Any
    problems: list[str] = field(default_factory=list)
    _next_id: int = 0
    _events: list[dict[str, Any]] = field(default_factory=list)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Call a DevTools method and return its result."""
        self._next_id += 1
        number = self._next_id
        self.socket.send(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == number:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._event(message)

    def _event(self, message: dict[str, Any]) -> None:
        method = message.get("method", "")
        params = message.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            description = details.get("exception", {}).get("description") or details.get("text")
            self.problems.append(f"uncaught exception: {description}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            texts = [str(a.get("value", a.get("description", ""))) for a in params.get("args", [])]
            self.problems.append("console error: " + " ".join(texts))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            self.problems.append("log error: " + params["entry"].get("text", ""))
        elif method == "Page.javascriptDialogOpening":
            self.problems.append(f"dialog: {params.get('type')}: {params.get('message')}")
        self._events.append(message)

    def wait_for(self, event: str, timeout: float = START_TIMEOUT) -> None:
        """Wait until the page sends ``event``."""
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == event for e in self._events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {event} within {timeout} s")
            self._event(json.loads(self.socket.recv()))

    def open(self, url: str) -> None:
        """Load ``url`` and wait for its load event."""
        self._events.clear()
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path, width: int = 1300, max_height: int = 8000) -> Path:
        """A PNG of the whole page (up to ``max_height`` pixels) at ``path``."""
        height = min(int(self.evaluate("document.documentElement.scrollHeight")), max_height)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path


@contextmanager
def headless_chromium(executable: str) -> Iterator[Page]:
    """A headless Chromium with one tab, ready to record problems; closed after."""
    profile = tempfile.mkdtemp(prefix="ormgrade-chromium-")
    process = subprocess.Popen(
        [
            executable,
            "--headless=new",
            "--no-sandbox",  # the tests run as root in a container
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--remote-debugging-port=0",
            "--remote-allow-origins=*",
            f"--user-data-dir={profile}",
            "--window-size=1300,1000",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    socket = None
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + START_TIMEOUT
        while not (port_file.is_file() and port_file.read_text().strip()):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{executable} did not start (exit code {process.poll()})")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            targets = json.load(answer)
        target = next(t for t in targets if t.get("type") == "page")
        socket = websocket.create_connection(
            target["webSocketDebuggerUrl"], timeout=START_TIMEOUT, suppress_origin=True
        )
        page = Page(socket)
        for domain in ("Runtime", "Log", "Page"):
            page.call(f"{domain}.enable")
        page.call("Page.addScriptToEvaluateOnNewDocument", source=DIALOG_TRAP)
        yield page
    finally:
        if socket is not None:
            socket.close()
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        shutil.rmtree(profile, ignore_errors=True)
