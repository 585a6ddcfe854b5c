"""A mail sink: an SMTP server on loopback that accepts every message and keeps it, for the demo (``SMTP_URL`` points
at it, so mail really goes through SMTP) and for tests and benchmarks. Only the commands a sender needs (EHLO/HELO,
MAIL, RCPT, DATA, RSET, NOOP, QUIT); no STARTTLS, no relaying anywhere. ``python -m vectis.platform.mailsink``."""

from __future__ import annotations

import argparse
import socketserver
import threading
from collections import deque
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

KEPT = 1000  # the newest messages; older ones are forgotten (a sink, not a mailbox)


@dataclass(frozen=True)
class Received:
    sender: str
    recipients: tuple[str, ...]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.raw, policy=policy.default)


@dataclass
class Sink:
    messages: deque[Received] = field(default_factory=lambda: deque(maxlen=KEPT))
    count: int = 0
    echo: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def keep(self, received: Received) -> None:
        with self.lock:
            self.messages.append(received)
            self.count += 1
        if self.echo:
            subject = received.message["Subject"]
            print(f"mailsink: {received.sender} -> {', '.join(received.recipients)}: {subject}", flush=True)


class _Session(socketserver.StreamRequestHandler):
    server: _Server

    def _say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self._say("220 vectis-mailsink ESMTP")
        sender, recipients = "", list[str]()
        while line := self.rfile.readline(65536):
            command = line.decode("utf-8", "replace").strip()
            verb = command[:4].upper()
            if verb in ("EHLO", "HELO"):
                self.wfile.write(b"250-vectis-mailsink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n" if verb == "EHLO" else b"")
                if verb == "HELO":
                    self._say("250 vectis-mailsink")
            elif verb == "MAIL":
                sender, recipients = command.partition(":")[2].strip().strip("<>").split(">")[0], []
                self._say("250 OK")
            elif verb == "RCPT":
                recipients.append(command.partition(":")[2].strip().strip("<>"))
                self._say("250 OK")
            elif verb == "DATA":
                self._say("354 End data with <CR><LF>.<CR><LF>")
                lines = []
                while (data := self.rfile.readline(1 << 20)) not in (b".\r\n", b".\n", b""):
                    lines.append(data[1:] if data.startswith(b"..") else data)
                self.server.sink.keep(Received(sender, tuple(recipients), b"".join(lines)))
                self._say("250 OK: kept")
            elif verb == "RSET":
                sender, recipients = "", []
                self._say("250 OK")
            elif verb == "QUIT":
                self._say("221 Bye")
                return
            else:
                self._say("250 OK" if verb == "NOOP" else "502 Command not implemented")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, sink: Sink) -> None:
        super().__init__(("127.0.0.1", port), _Session)
        self.sink = sink


def start(port: int = 0, *, echo: bool = False) -> tuple[Sink, int, _Server]:
    """A sink on 127.0.0.1 in a thread: the sink, its port, and the server (``shutdown()`` stops it)."""
    sink = Sink(echo=echo)
    server = _Server(port, sink)
    threading.Thread(target=server.serve_forever, daemon=True, name="mailsink").start()
    return sink, server.server_address[1], server


def main() -> None:
    parser = argparse.ArgumentParser(description="An SMTP sink on 127.0.0.1 that keeps and prints what it gets")
    parser.add_argument("--port", type=int, default=1025)
    port = parser.parse_args().port
    sink = Sink(echo=True)
    print(f"mailsink: listening on 127.0.0.1:{port}", flush=True)
    _Server(port, sink).serve_forever()


if __name__ == "__main__":
    main()
