"""Serve one shell per websocket with terminado, for the terminal benchmark.

Usage: python -m bench.terminado_server PORT COMMAND...
The websocket is at /websocket.
"""

import sys

import tornado.ioloop
import tornado.web
from terminado import TermSocket, UniqueTermManager


def main() -> None:
    port, command = int(sys.argv[1]), sys.argv[2:]
    manager = UniqueTermManager(shell_command=command)
    application = tornado.web.Application(
        [(r"/websocket", TermSocket, {"term_manager": manager})]
    )
    application.listen(port, "127.0.0.1")
    tornado.ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
