"""`make run`: start the action server, Rasa and the web gateway, print the chat URL, stop all three on Ctrl-C.

Artifacts (catalog DB, product index, Rasa model) are built by the Makefile's prerequisites before this runs.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

from assistant import rasa_model
from assistant.settings import SettingsError, load_settings
from assistant.stack import Stack, StackError

CREATE_USER_HINT = ".venv-app/bin/python -m assistant.console create-user NAME --role admin"


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _request_stop)
    signal.signal(signal.SIGTERM, _request_stop)

    try:
        stack = Stack(settings, rasa_model.model_path(settings.models_dir))
        print("==> starting the action server, Rasa and the web gateway (Rasa needs about a minute to load its model)")
        stack.start()
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        seconds = stack.wait_ready(
            on_ready=lambda name, t: print(f"    {name} ready after {t:.0f}s", flush=True), cancel=stop
        )
        print(f"\n==> the assistant is up after {seconds:.0f}s. Chat at {settings.chat_url}")
        print(f"    staff console: {settings.chat_url}staff/  (first account: {CREATE_USER_HINT})")
        print(f"    logs: {stack.log_dir}/   stop: Ctrl-C\n", flush=True)
        while not stop.wait(1.0):
            if dead := stack.dead():
                print(f"error: {', '.join(dead)} stopped unexpectedly; see {stack.log_dir}", file=sys.stderr)
                return 1
        return 0
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        print("==> stopping", flush=True)
        stack.stop()


if __name__ == "__main__":
    raise SystemExit(main())
