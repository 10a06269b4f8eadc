"""`python -m assistant.gateway`: serve the chat page and API until SIGINT or SIGTERM."""

from __future__ import annotations

import logging
import sys

from aiohttp import web

from assistant.console.web.app import create_console_app
from assistant.gateway.access_log import RedactedAccessLogger
from assistant.gateway.app import create_app
from assistant.gateway.config import GatewayConfig
from assistant.gateway.live import make_hub
from assistant.gateway.notices import RestockNotices
from assistant.gateway.rasa_client import RasaClient
from assistant.secrets import SecretError
from assistant.settings import SettingsError, load_settings

logger = logging.getLogger("assistant.gateway")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    try:
        config = GatewayConfig.from_settings(settings)
    except (SecretError, OSError) as exc:
        print(f"gateway: cannot read the secret file {settings.secret_file}: {exc}", file=sys.stderr)
        return 2
    client = RasaClient(config)
    hub = make_hub(settings.redis_url)
    app = create_app(
        config,
        client=client,
        notices=RestockNotices.for_url(settings.database_url),
        hub=hub,
        console=create_console_app(settings, client, hub),
    )
    logger.info(
        "forwarding to Rasa at %s (action server %s); live events %s; staff console at %sstaff/",
        config.rasa_url,
        config.action_server_url,
        "through Redis" if settings.redis_url else "in process",
        settings.chat_url,
    )
    try:
        # run_app handles SIGINT and SIGTERM: it stops accepting, lets requests finish and runs clean-up.
        web.run_app(
            app,
            host=settings.gateway_host,
            port=settings.gateway_port,
            print=lambda _banner: print(f"Chat page: {settings.chat_url}  (Ctrl+C to stop)", flush=True),
            access_log_class=RedactedAccessLogger,
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
