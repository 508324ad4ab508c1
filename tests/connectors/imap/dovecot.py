"""A private Dovecot IMAP server for tests: its own config, port, maildirs and log.

``start_dovecot()`` writes a stand-alone ``dovecot.conf`` into a fresh temp
directory (nothing of ``/etc/dovecot`` is read), runs ``dovecot -F -c <conf>``
as a child process listening on ``127.0.0.1:<free port>`` without TLS, waits
for the IMAP greeting and returns a handle; ``stop()`` ends it and removes the
directory. Any user name logs in with :data:`PASSWORD` (static passdb), and
each user has its own maildir, so a test gets an empty mailbox by picking a
fresh user name. Mail is delivered with IMAP ``APPEND``.

Privileges: Dovecot refuses to run its login processes as root and mail as
uid 0. Run as root, it uses the ``dovecot`` and ``dovenull`` accounts that the
Debian package creates, and stores mail as ``nobody``; run as another user,
everything runs as that user. The temp directory is world-traversable
(0755) for that reason; it holds nothing but test mail.

Install the server with ``scripts/install-test-services.sh``
(``apt-get install -y dovecot-imapd``).
"""

from __future__ import annotations

import contextlib
import grp
import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["INSTALL_HINT", "PASSWORD", "Dovecot", "find_dovecot", "start_dovecot"]

PASSWORD = "hub-test-secret"
INSTALL_HINT = "apt-get install -y dovecot-imapd (or scripts/install-test-services.sh)"

_CONF = """\
# Written by tests/connectors/imap/dovecot.py: a throw-away server for tests.
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = {mail_uid}
first_valid_gid = {mail_gid}
mail_location = maildir:{root}/mail/%u
mail_fsync = never
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={root}/mail/%u
}}
service imap-login {{
{chroot}  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
{extra}"""


def find_dovecot() -> str | None:
    """Path of the ``dovecot`` binary (``/usr/sbin`` is often not on a user's PATH).

    ``HUB_TEST_DOVECOT`` names another binary (or, set to a missing path,
    simulates a machine without Dovecot).
    """
    chosen = os.environ.get("HUB_TEST_DOVECOT")
    if chosen:
        return chosen if os.access(chosen, os.X_OK) else None
    found = shutil.which("dovecot")
    if found:
        return found
    for candidate in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


@dataclass
class Dovecot:
    """A running private server."""

    host: str
    port: int
    root: Path
    process: subprocess.Popen[bytes]
    users: list[str] = field(default_factory=list)

    @property
    def log(self) -> str:
        """The server's log so far (for assertion messages)."""
        parts = []
        for name in ("stderr.log", "dovecot.log"):
            path = self.root / name
            if path.exists():
                parts.append(path.read_text(errors="replace"))
        return "".join(parts)

    def connect(self, user: str) -> imaplib.IMAP4:
        """A logged-in imaplib connection as ``user``."""
        imap = imaplib.IMAP4(self.host, self.port, timeout=30)
        imap.login(user, PASSWORD)
        return imap

    def append(self, user: str, messages: list[bytes], folder: str = "INBOX") -> list[int]:
        """Deliver ``messages`` to ``folder`` (created if missing); their UIDs."""
        imap = self.connect(user)
        try:
            if folder.upper() != "INBOX":
                imap.create(f'"{folder}"')  # NO when it exists: fine
            uids: list[int] = []
            for raw in messages:
                typ, data = imap.append(f'"{folder}"', None, None, raw)
                assert typ == "OK", f"APPEND failed: {data!r}"
                # [APPENDUID <uidvalidity> <uid>] (UIDPLUS)
                code = data[0].decode() if data and isinstance(data[0], bytes) else ""
                parts = code.split("APPENDUID ", 1)[-1].split("]", 1)[0].split()
                uids.append(int(parts[1]) if len(parts) == 2 else -1)
            return uids
        finally:
            imap.logout()

    def stop(self) -> None:
        """Stop the server and delete its directory."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)


def start_dovecot(binary: str | None = None, attempts: int = 3) -> Dovecot:
    """Start a private Dovecot; raises ``RuntimeError`` (with its log) if it does not come up."""
    exe = binary or find_dovecot()
    if exe is None:
        raise FileNotFoundError(f"dovecot is not installed: {INSTALL_HINT}")
    last = ""
    for _ in range(attempts):  # a free port can be taken between probe and bind
        server = _start_once(exe)
        if _wait_ready(server):
            return server
        last = server.log
        server.stop()
    raise RuntimeError(f"dovecot did not start; its log:\n{last}")


def _start_once(exe: str) -> Dovecot:
    root = Path(tempfile.mkdtemp(prefix="hub-dovecot-"))
    root.chmod(0o755)
    for sub in ("run", "state", "mail"):
        (root / sub).mkdir()
    if os.geteuid() == 0:
        internal = pwd.getpwnam("dovecot")
        login = pwd.getpwnam("dovenull")
        mail = pwd.getpwnam("nobody")
        internal_user, internal_group = internal.pw_name, _group_name(internal.pw_gid)
        login_user, chroot, extra = login.pw_name, "", ""
        mail_uid, mail_gid = mail.pw_uid, mail.pw_gid
    else:
        me = pwd.getpwuid(os.geteuid())
        internal_user, internal_group = me.pw_name, _group_name(me.pw_gid)
        # Unprivileged processes cannot chroot (login and anvil do by default).
        login_user, chroot = me.pw_name, "  chroot =\n"
        extra = "service anvil {\n  chroot =\n}\n"
        mail_uid, mail_gid = me.pw_uid, me.pw_gid
    os.chown(root / "mail", mail_uid, mail_gid)
    port = _free_port()
    conf = root / "dovecot.conf"
    conf.write_text(
        _CONF.format(
            root=root,
            port=port,
            password=PASSWORD,
            internal_user=internal_user,
            internal_group=internal_group,
            login_user=login_user,
            mail_uid=mail_uid,
            mail_gid=mail_gid,
            chroot=chroot,
            extra=extra,
        )
    )
    out = (root / "stderr.log").open("wb")
    process = subprocess.Popen(
        [exe, "-F", "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT, cwd=root
    )
    out.close()
    return Dovecot(host="127.0.0.1", port=port, root=root, process=process)


def _wait_ready(server: Dovecot, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        with (
            contextlib.suppress(OSError),
            socket.create_connection((server.host, server.port), timeout=2) as sock,
        ):
            if sock.recv(100).startswith(b"* OK"):
                return True
        time.sleep(0.05)
    return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _group_name(gid: int) -> str:
    return grp.getgrgid(gid).gr_name
