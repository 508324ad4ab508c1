"""``WebhookSourceContract``: the standard checks every webhook source must pass."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from pydantic import ValidationError

from hub.connector import WebhookRequest, WebhookSource
from hub.errors import ParseError, SignatureError, SkipEvent
from hub.events import Event
from hub.schemas import SchemaViolation, event_types, validate_data
from hub.secrets import Secret
from hub.testing.noio import forbid_network

__all__ = ["WebhookSourceContract", "make_request"]


def make_request(
    body: bytes,
    headers: Mapping[str, str] | None = None,
    method: str = "POST",
    query: Mapping[str, str] | None = None,
    path: str = "/hooks/test",
) -> WebhookRequest:
    """A ``WebhookRequest`` as the ingress builds it (case-insensitive headers)."""
    return WebhookRequest(
        method, path, CIMultiDictProxy(CIMultiDict(headers or {})), dict(query or {}), body
    )


@pytest.mark.contract
class WebhookSourceContract:
    """Subclass (as ``TestSomething``) and set the class attributes; override ``sign``.

    Attributes:
        source: the ``WebhookSource`` class under test.
        config: a valid config (as in hub.yaml) whose secrets ``sign`` uses.
        payloads: a folder of request bodies (``*.json``, ``*.txt``, ``*.form``),
            built from the vendor's documented formats.
        skipped: names (file stems) of payloads that must raise ``SkipEvent``.
        content_type: sent with every payload unless ``headers_for`` says otherwise.
    """

    source: ClassVar[type[WebhookSource[Any]]]
    config: ClassVar[dict[str, Any]]
    payloads: ClassVar[Path]
    skipped: ClassVar[frozenset[str]] = frozenset()
    content_type: ClassVar[str] = "application/json"

    # -- hooks the subclass provides ----------------------------------------------------

    def sign(self, body: bytes) -> dict[str, str]:
        """The headers that make ``body`` authentic (the signature header(s))."""
        raise NotImplementedError("override sign(body) -> {signature header: value}")

    def headers_for(self, name: str, body: bytes) -> dict[str, str]:
        """Extra headers for payload ``name`` (delivery ids, content type)."""
        return {"Content-Type": self.content_type}

    def redelivery_headers(self, name: str, body: bytes) -> dict[str, str]:
        """Headers of the *same* event delivered again (a new delivery id, say)."""
        return {}

    # -- helpers -----------------------------------------------------------------

    def make_source(self, config: Mapping[str, Any] | None = None) -> WebhookSource[Any]:
        model = _config_model(self.source)
        return self.source(model.model_validate(dict(config or self.config)), "contract-test")

    def payload_files(self) -> list[Path]:
        files = sorted(
            p
            for p in self.payloads.iterdir()
            if p.suffix in {".json", ".txt", ".form"} and p.is_file()
        )
        assert files, f"no payloads in {self.payloads}"
        return files

    def signed(
        self, name: str, body: bytes, extra: Mapping[str, str] | None = None
    ) -> WebhookRequest:
        headers = {**self.headers_for(name, body), **self.sign(body), **dict(extra or {})}
        return make_request(body, headers)

    def parsed(self, path: Path) -> Iterator[tuple[str, bytes, list[Event] | SkipEvent]]:
        body = path.read_bytes()
        source = self.make_source()
        request = self.signed(path.stem, body)
        source.verify(request)
        try:
            yield path.stem, body, source.parse(request)
        except SkipEvent as skip:
            yield path.stem, body, skip

    # -- the contract --------------------------------------------------------------

    def test_config_rejects_unknown_keys(self) -> None:
        model = _config_model(self.source)
        with pytest.raises(ValidationError, match="xtra"):
            model.model_validate({**self.config, "surely_not_a_setting": 1})

    def test_secrets_are_typed_and_masked(self) -> None:
        model = _config_model(self.source)
        cfg = model.model_validate(self.config)
        secrets = {
            name: value.reveal()
            for name in type(cfg).model_fields
            if isinstance(value := getattr(cfg, name), Secret)
        }
        assert secrets, f"{model.__name__} types no field as Secret: signing secrets must be"
        shown = (
            repr(cfg) + str(cfg) + cfg.model_dump_json() + json.dumps(cfg.model_dump(), default=str)
        )
        for name, value in secrets.items():
            assert value not in shown, f"secret field {name!r} shows its value"

    def test_declared_types_have_schemas(self) -> None:
        known = set(event_types())
        assert self.source.emits, "the source declares no event types in `emits`"
        unknown = [t for t in self.source.emits if t not in known]
        assert not unknown, f"emits types without a schema in hub/schemas: {unknown}"

    def test_every_payload_gives_valid_events_or_a_skip(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with forbid_network(monkeypatch):
            for path in self.payload_files():
                for name, _, result in self.parsed(path):
                    if name in self.skipped:
                        assert isinstance(result, SkipEvent), (
                            f"{name}: expected SkipEvent, got {result!r}"
                        )
                        continue
                    assert not isinstance(result, SkipEvent), (
                        f"{name}: unexpectedly skipped: {result}"
                    )
                    assert result, f"{name}: parse returned no events"
                    for event in result:
                        assert event.type in self.source.emits, (
                            f"{name}: emitted {event.type}, which is not in {self.source.__name__}.emits"
                        )
                        try:
                            validate_data(event.type, event.data)
                        except SchemaViolation as exc:
                            pytest.fail(f"{name}: {exc}")
                        assert event.idempotency_key, f"{name}: empty idempotency key"
                        assert event.subject, f"{name}: empty subject"
                        assert event.time.tzinfo is not None, f"{name}: naive event time"
                        json.dumps(event.data)

    def test_tampered_body_is_rejected(self) -> None:
        source = self.make_source()
        for path in self.payload_files():
            body = path.read_bytes()
            request = self.signed(path.stem, body)
            for tampered in _tamperings(body):
                forged = make_request(tampered, request.headers)
                with pytest.raises(SignatureError):
                    source.verify(forged)

    def test_missing_signature_is_rejected(self) -> None:
        source = self.make_source()
        path = self.payload_files()[0]
        body = path.read_bytes()
        signature_headers = {k.lower() for k in self.sign(body)}
        kept = {
            k: v
            for k, v in self.headers_for(path.stem, body).items()
            if k.lower() not in signature_headers
        }
        with pytest.raises(SignatureError):
            source.verify(make_request(body, kept))

    def test_idempotency_keys_are_stable_across_redelivery(self) -> None:
        for path in self.payload_files():
            if path.stem in self.skipped:
                continue
            body = path.read_bytes()
            first = self.make_source().parse(self.signed(path.stem, body))
            again = self.make_source().parse(
                self.signed(path.stem, body, self.redelivery_headers(path.stem, body))
            )
            keys = [e.idempotency_key for e in first]
            assert keys == [e.idempotency_key for e in again], (
                f"{path.stem}: keys changed on redelivery"
            )
            assert len(keys) == len(set(keys)), f"{path.stem}: two events share a key"

    def test_garbage_is_a_clean_error(self) -> None:
        source = self.make_source()
        for body in (b"", b"\xff\xfe\x00garbage", b"[]", b"{}", b"null", b'{"a": [1, 2'):
            request = self.signed("garbage", body)
            try:
                source.verify(request)
                source.parse(request)
            except (ParseError, SignatureError, SkipEvent):
                continue


def _config_model(source: type[WebhookSource[Any]]) -> Any:
    """The config model a source is parametrized with (``WebhookSource[Config]``)."""
    for base in getattr(source, "__orig_bases__", ()):
        args = getattr(base, "__args__", ())
        if args:
            return args[0]
    raise TypeError(f"{source.__name__} does not say its config type (WebhookSource[Config])")


def _tamperings(body: bytes) -> list[bytes]:
    if not body:
        return [b" "]
    middle = len(body) // 2
    flipped = body[:middle] + bytes([body[middle] ^ 0x01]) + body[middle + 1 :]
    return [flipped, body + b" ", body[:-1]]
