#!/usr/bin/python3
"""A real SMTP server on loopback that stores each message it accepts.

Usage: smtp-capture.py DIR [PORT] [USER:PASSWORD]
Prints "listening on PORT" once ready; writes DIR/NNNN.eml per message, with the envelope
sender and recipients as X-Envelope-* headers. With USER:PASSWORD, AUTH is required (over
plain SMTP: loopback only) and the user is recorded as X-Auth-User. Used by the tests.
"""
import asyncio
import os
import sys

from aiosmtpd.smtp import SMTP, AuthResult


class Capture:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        path = os.path.join(self.directory, "%04d.eml" % self.count)
        head = "X-Envelope-From: %s\r\nX-Envelope-To: %s\r\n" % (envelope.mail_from, ",".join(envelope.rcpt_tos))
        if session.auth_data is not None:
            head += "X-Auth-User: %s\r\n" % session.auth_data.login.decode()
        with open(path + ".tmp", "wb") as f:
            f.write(head.encode() + envelope.original_content)
        os.rename(path + ".tmp", path)
        return "250 OK"


async def main():
    directory = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    os.makedirs(directory, exist_ok=True)
    handler = Capture(directory)
    options = {}
    if len(sys.argv) > 3:
        user, password = sys.argv[3].split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login.decode() == user and auth_data.password.decode() == password
            return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

        options = dict(authenticator=authenticator, auth_required=True, auth_require_tls=False)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, enable_SMTPUTF8=True, **options), "127.0.0.1", port)
    print("listening on %d" % server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


asyncio.run(main())
