"""Where alerts go: email over SMTP (``aiosmtplib``) and a JSON POST (aiohttp, retried by tenacity).

A channel sends one ``Notice`` or raises ``ChannelError`` saying what failed,
without the password or the signing secret. It never retries past its own
short budget: the storm gate keeps an unsent notice and sends it again at the
end of the next window.
"""

from __future__ import annotations

import json
import ssl
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

import aiohttp
import aiosmtplib
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from hub.alerts.model import Notice
from hub.alerts.render import document, subject, text
from hub.alerts.settings import AlertsConfig, SmtpSettings, WebhookSettings
from hub.errors import HubError
from hub.signing import hmac_hex

__all__ = ["Channel", "ChannelError", "SmtpChannel", "WebhookChannel", "build_channels"]


class ChannelError(HubError):
    """An alert could not be sent on a channel (the message says why; it is kept and retried)."""


class Channel(Protocol):
    """Sends notices somewhere."""

    name: str

    async def send(self, notice: Notice) -> None:
        """Deliver ``notice`` or raise ``ChannelError``."""


class SmtpChannel:
    """Email through an SMTP relay: STARTTLS, implicit TLS or plain, with optional login."""

    name = "smtp"

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def message(self, notice: Notice) -> EmailMessage:
        """The email for ``notice`` (plain text; the subject carries the headline)."""
        s = self.settings
        msg = EmailMessage()
        msg["From"] = s.sender
        msg["To"] = ", ".join(s.to)
        msg["Subject"] = subject(notice, s.subject_prefix)
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        msg["Message-ID"] = make_msgid(domain=s.sender.rpartition("@")[2] or None)
        msg["X-Hub-Alert-Rule"] = notice.rule
        msg.set_content(text(notice))
        return msg

    def _tls(self) -> ssl.SSLContext | None:
        if self.settings.security == "none":
            return None
        return ssl.create_default_context(cafile=self.settings.ca_file)

    async def send(self, notice: Notice) -> None:
        s = self.settings
        port = s.effective_port()
        try:
            await aiosmtplib.send(
                self.message(notice),
                hostname=s.host,
                port=port,
                username=s.username,
                password=s.password.reveal() if s.password is not None else None,
                use_tls=s.security == "ssl",
                start_tls=s.security == "starttls",
                tls_context=self._tls(),
                timeout=s.timeout,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            reason = str(exc) or type(exc).__name__
            raise ChannelError(
                f"email to {', '.join(s.to)} via {s.host}:{port} failed: {reason}"
            ) from exc


class _Retryable(Exception):
    """A webhook answer worth another try (429, 5xx)."""


class WebhookChannel:
    """A JSON POST, optionally HMAC-signed, retried a few times on network errors, 429 and 5xx.

    The signature is ``X-Hub-Signature-256: sha256=<hex>``, the HMAC-SHA256 of
    ``<X-Hub-Timestamp>.<body>``, so a receiver can refuse old replays.
    ``X-Hub-Alert-Id`` is the same on every retry of one message.
    """

    name = "webhook"

    def __init__(self, settings: WebhookSettings, backoff: float = 0.5) -> None:
        self.settings = settings
        self.backoff = backoff

    def request(self, notice: Notice) -> tuple[bytes, dict[str, str]]:
        """The body and headers of the POST for ``notice``."""
        body = json.dumps(document(notice), ensure_ascii=False).encode()
        headers = {**self.settings.headers, "Content-Type": "application/json"}
        if notice.token:
            headers["X-Hub-Alert-Id"] = notice.token
        if self.settings.secret is not None:
            stamp = str(int(time.time()))
            signed = stamp.encode() + b"." + body
            headers["X-Hub-Timestamp"] = stamp
            headers["X-Hub-Signature-256"] = "sha256=" + hmac_hex(self.settings.secret, signed)
        return body, headers

    async def send(self, notice: Notice) -> None:
        s = self.settings
        body, headers = self.request(notice)
        timeout = aiohttp.ClientTimeout(total=s.timeout)
        where = s.url.split("?")[0]
        try:
            async with aiohttp.ClientSession(timeout=timeout) as http:
                async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(s.attempts),
                    wait=wait_exponential(multiplier=self.backoff, max=10 * self.backoff),
                    retry=retry_if_exception_type((_Retryable, aiohttp.ClientError, TimeoutError)),
                    reraise=True,
                ):
                    with attempt:
                        async with http.post(s.url, data=body, headers=headers) as resp:
                            if resp.status == 429 or resp.status >= 500:
                                raise _Retryable(f"answered {resp.status}")
                            if resp.status >= 300:
                                raise ChannelError(
                                    f"POST {where} was refused ({resp.status}); check the URL "
                                    "and what the receiver expects"
                                )
        except ChannelError:
            raise
        except (_Retryable, aiohttp.ClientError, TimeoutError) as exc:
            reason = str(exc) or type(exc).__name__
            raise ChannelError(
                f"POST {where} failed after {s.attempts} attempt(s): {reason}"
            ) from exc


def build_channels(config: AlertsConfig) -> list[SmtpChannel | WebhookChannel]:
    """The channels ``config`` names, email first."""
    channels: list[SmtpChannel | WebhookChannel] = []
    if config.smtp is not None:
        channels.append(SmtpChannel(config.smtp))
    if config.webhook is not None:
        channels.append(WebhookChannel(config.webhook))
    return channels
