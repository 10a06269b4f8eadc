"""`python -m assistant.gateway`: serve the chat page and API until SIGINT or SIGTERM."""

from __future__ import annotations

import logging
import sys

from aiohttp import web

from assistant.gateway.app import create_app
from assistant.gateway.config import GatewayConfig
from assistant.gateway.notices import RestockNotices
from assistant.settings import SettingsError, load_settings

logger = logging.getLogger("assistant.gateway")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    config = GatewayConfig.from_settings(settings)
    app = create_app(config, notices=RestockNotices.for_url(settings.database_url))
    logger.info("forwarding to Rasa at %s (action server %s)", config.rasa_url, config.action_server_url)
    try:
        # run_app handles SIGINT and SIGTERM: it stops accepting, lets requests finish and runs clean-up.
        web.run_app(
            app,
            host=settings.gateway_host,
            port=settings.gateway_port,
            print=lambda _banner: print(f"Chat page: {settings.chat_url}  (Ctrl+C to stop)", flush=True),
            access_log_format='%a "%r" %s %b %Tfs',
        )
    except OSError as exc:
        print(
            f"gateway: cannot listen on {settings.gateway_host}:{settings.gateway_port}: {exc.strerror or exc}; "
            "stop the other process or set GATEWAY_PORT",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
