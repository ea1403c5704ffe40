"""Render a page in headless Chromium and report what a reader would see go wrong: images that
did not load, console errors and uncaught exceptions. Talks the DevTools protocol over a
websocket (websocket-client); uses the system's `chromium`, never downloads a browser."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BINARIES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    explicit = os.environ.get("BLENDBENCH_CHROMIUM")
    if explicit:
        return explicit
    return next((path for name in BINARIES if (path := shutil.which(name))), None)


@dataclass
class Rendered:
    images: list[tuple[str, bool]]
    """(src, loaded) per <img>: loaded is `complete && naturalWidth > 0`."""
    errors: list[str] = field(default_factory=list)
    """Console errors and warnings, uncaught exceptions and log entries of level error."""


def render(page: Path, chromium: str, timeout: float = 60.0) -> Rendered:
    """Load `page` (a file) in a fresh headless Chromium and collect its images and errors."""
    import websocket

    # Chromium's helper processes may still write to the profile after the browser exits: the
    # whole process group is ended below, and a late file does not fail the cleanup.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        proc = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + timeout
            while not (port_file.exists() and port_file.read_text().strip()):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"{chromium} did not open its DevTools port")
                time.sleep(0.1)
            port = int(port_file.read_text().split()[0])
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as reply:
                targets = json.load(reply)
            url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
            # No Origin header: Chromium (150 and newer) refuses a DevTools connection from a foreign origin.
            ws = websocket.create_connection(url, timeout=timeout, suppress_origin=True)
            try:
                return _load(ws, page, deadline=time.monotonic() + timeout)
            finally:
                ws.close()
        finally:
            _end_group(proc)


def _end_group(proc: subprocess.Popen) -> None:
    """SIGTERM Chromium's process group, then SIGKILL whatever is left after 10 s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=10)
            time.sleep(0.2)  # the helpers exit just after the browser
        except subprocess.TimeoutExpired:
            continue


def _load(ws, page: Path, deadline: float) -> Rendered:
    counter = iter(range(1, 1_000_000))
    errors: list[str] = []

    def send(method: str, **params) -> int:
        ident = next(counter)
        ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        return ident

    def pump(until) -> dict:
        while time.monotonic() < deadline:
            message = json.loads(ws.recv())
            method = message.get("method")
            params = message.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning", "assert"):
                errors.append(f"console.{params['type']}: " + " ".join(str(a.get("value", a.get("description", "")))
                                                                     for a in params.get("args", [])))  # fmt: skip
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                errors.append(f"exception: {details.get('exception', {}).get('description', details.get('text'))}")
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                entry = params["entry"]
                errors.append(f"log: {entry.get('text')} {entry.get('url', '')}".strip())
            if until(message):
                return message
        raise TimeoutError("the page did not finish loading in time")

    for method in ("Page.enable", "Runtime.enable", "Log.enable"):
        ident = send(method)
        pump(lambda m, i=ident: m.get("id") == i)
    send("Page.navigate", url=page.resolve().as_uri())
    pump(lambda m: m.get("method") == "Page.loadEventFired")
    script = "JSON.stringify(Array.from(document.images).map(i => [i.src, i.complete && i.naturalWidth > 0]))"
    ident = send("Runtime.evaluate", expression=script, returnByValue=True)
    reply = pump(lambda m: m.get("id") == ident)
    images = [tuple(pair) for pair in json.loads(reply["result"]["result"]["value"])]
    ident = send("Runtime.evaluate", expression="1")  # let late console events arrive before returning
    pump(lambda m: m.get("id") == ident)
    return Rendered(images, errors)
