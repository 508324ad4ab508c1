"""IMAP: mail arriving in one folder of any IMAP4rev1 server, as ``email.received`` events.

Events (polling source ``imap.mailbox``, every minute):

- ``email.received`` for each message in the watched folder, oldest first,
  ``page_size`` (50) per poll; ``data`` fits ``hub/schemas/email.json``
  (addresses, decoded subject, text and HTML bodies, attachment metadata
  ``{filename, content_type, size, sha256}`` without content, ``thread_key``
  shared by a message and its replies). Idempotency key
  ``email.received:<mailbox>:<Message-ID>`` (the sha256 of the raw bytes
  when Message-ID is missing), so the same mail is one event even when the
  server renumbers the folder (UIDVALIDITY change, handled and recorded in
  the cursor; see ``sources.ImapMailbox``).

Mail is never marked read unless ``mark_seen`` is set: the folder is opened
with ``EXAMINE`` and fetched with ``BODY.PEEK[]``. IDLE (push) is not
implemented (see ``client``): new mail waits for the next poll.

Modules: ``config`` (settings), ``client`` (IMAP over stdlib ``imaplib`` in a
worker thread, and why not aioimaplib: GPL-3.0-only), ``mime`` (pure MIME →
event data: structure, attachments, addresses, threading), ``decoding``
(charsets, RFC 2047 words, raw 8-bit headers), ``sources`` (the poller).

Auth: LOGIN with username and password (an app password for Gmail or
Microsoft 365; OAuth2/XOAUTH2 is not supported yet) over implicit TLS (993),
STARTTLS (143) or, for a server on loopback only, plain text.

Actions: none.

Protocol docs:
    https://www.rfc-editor.org/rfc/rfc3501 (IMAP4rev1)
    https://www.rfc-editor.org/rfc/rfc5322 (message format, Message-ID, References)
    https://www.rfc-editor.org/rfc/rfc2047 (encoded words), rfc2231 (parameters)
    https://docs.python.org/3/library/imaplib.html
"""

from __future__ import annotations

from hub.connector import Connector

from .config import ImapConfig
from .sources import ImapMailbox

__all__ = ["ImapConfig", "ImapMailbox", "connector"]

connector = Connector(
    name="imap",
    title="IMAP mailbox",
    config=ImapConfig,
    pollers=(ImapMailbox,),
    docs="https://www.rfc-editor.org/rfc/rfc3501",
)
