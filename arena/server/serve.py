"""`arena serve`: the service, its dispatcher and executor, and uvicorn in front."""
from __future__ import annotations

import logging
import sys

from arena.server.config import ServerConfig
from arena.server.dispatcher import Dispatcher
from arena.server.executor import make_executor
from arena.server.service import Service


def serve(config: ServerConfig, *, announce=print) -> None:
    """Run until Ctrl-C or SIGTERM. `announce` gets the lines a person starting it reads."""
    import uvicorn

    from arena.server.api import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("jax").setLevel(logging.WARNING)  # its backend probing is not news to a server's reader
    service = Service(config)
    if service.admin_token_created:
        announce(f"admin token written to {service.admin_token_created} (mode 0600); local `arena` clients read it from there")
    if service.requeued:
        announce(f"{service.requeued} job(s) left running by the last server were queued again")
    app = create_app(service)
    executor = make_executor(config)
    dispatcher = Dispatcher(service, executor)

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame):
            app.state.shutting_down = True  # new requests get 503 while the open ones finish
            super().handle_exit(sig, frame)

    server = Server(uvicorn.Config(app, host=config.host, port=config.port, log_level="warning", access_log=False))
    original_startup = server.startup

    async def startup(sockets=None):
        await original_startup(sockets)
        for s in server.servers:
            for sock in s.sockets:
                host, port = sock.getsockname()[:2]
                announce(f"arena server on http://{host}:{port} (data {config.data}, {config.workers} {config.backend} worker(s))")

    server.startup = startup
    dispatcher.start()
    try:
        server.run()
    finally:
        dispatcher.stop()
        dispatcher.join(timeout=10)
        executor.close()
