"""Salesforce Service Cloud connector: open cases, add case comments, upsert contacts, once each.

Actions:
    salesforce.create_case: open a Case; the step's idempotency key goes in a Case
        external-ID field (``case_external_id_field``, default ``Hub_Key__c``):
        read by that key first, then upserted, so a retry writes once and never
        overwrites an agent's later edits.
    salesforce.add_case_comment: add a CaseComment; CaseComment has no external-ID
        field, so the body ends with a ``[hub:<hash of the key>]`` marker that is
        searched (SOQL) before creating.
    salesforce.upsert_contact: create or update a Contact by an external-ID field
        (``contact_external_id_field``) whose value the step gives.

Events: none (Salesforce is a sink here).

Auth: OAuth 2.0 refresh-token flow against ``login_url`` (login.salesforce.com,
test.salesforce.com or a My Domain); the token response's ``instance_url`` is
the API base. Tokens are cached per connection, refreshed one at a time,
ahead of ``session_lifetime`` (Salesforce reports no expiry), and once on a 401
``INVALID_SESSION_ID`` before the call is retried once (``SalesforceOAuth``).
``invalid_grant`` → ``AuthError`` (re-authorize the connection). The refresh
token can come from the dashboard's Connect button: the web server flow with
PKCE (``oauth_connect``, docs/oauth.md).

Setup in the org: a connected app (scopes ``api refresh_token``), a refresh
token for the integration user, and two text fields marked External ID +
Unique: ``Case.Hub_Key__c`` and ``Contact.Hub_External_Id__c`` (or your names
in the config).

Quirks handled: ``403 REQUEST_LIMIT_EXCEEDED`` is the org's rolling 24-hour API
limit, not an auth failure (→ ``RateLimitError``); ``300`` from an upsert means
the external ID matched several records (→ ``PermanentError``);
``UNABLE_TO_LOCK_ROW`` is transient; ``Sforce-Limit-Info: api-usage=n/m`` is
kept on the session (``session.oauth.api_usage``).

Sandbox: ``create_sandbox_app`` (``python -m connectors.salesforce.sandbox``)
speaks the token endpoint and the REST subset above locally, with scripted
faults for tests.

API docs used (Salesforce developer documentation):

- OAuth refresh token flow, request and response parameters (access_token,
  instance_url, id, issued_at, signature, token_type; no expires_in):
  https://developer.salesforce.com/docs/atlas.en-us.218.0.api_rest.meta/api_rest/intro_understanding_refresh_token_oauth.htm
  and an example response: https://cloudsfdc.com/refresh-token-flow
- Upsert by external ID (PATCH /sobjects/{Object}/{field}/{value}; created or
  updated; 300 on several matches; ``updateOnly``):
  https://developer.salesforce.com/docs/platform/api-rest/guide/dome-upsert.html
  and https://developer.salesforce.com/docs/atlas.en-us.222.0.api_rest.meta/api/resources_sobject_upsert.htm
- Status codes (201/200/204 for "some PATCH requests", 300, 401 session
  expired, 403 with REQUEST_LIMIT_EXCEEDED = API limit):
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
- Error body ``[{"message", "errorCode", "fields"}]``:
  https://raw.githubusercontent.com/api-evangelist/salesforce/refs/heads/main/errors/salesforce-error-codes.yml
  (derived from Salesforce's OpenAPI specs; third party).
- ``Sforce-Limit-Info: api-usage=18/5000``:
  https://developer.salesforce.com/docs/atlas.en-us.264.0.api_rest.meta/api_rest/headers_api_usage.htm
- CaseComment (CommentBody textarea, 4,000 bytes, filterable; IsPublished; ParentId):
  https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_objects_casecomment.htm

UNCONFIRMED (from memory, not in the pages above; the code copes either way):
an upsert that *updates* answers 200 with ``{"id", "success", "errors",
"created": false}`` from API v46.0 and 204 with no body before (both are
handled: a 204 is followed by a GET); the token endpoint's exact
``error_description`` texts other than ``expired access/refresh token``
(``invalid_client_id``/``client identifier invalid``, ``invalid_client``/
``invalid client credentials``); the 403 message text ``TotalRequests Limit
exceeded.``; that ``LIKE`` works on CommentBody in every org (the docs list it
as filterable); external-ID values containing ``/`` or ``.`` in the URL path
(they are percent-encoded, but Salesforce's handling of such values is untested).
"""

from __future__ import annotations

from typing import Any

from hub.connector import Connector

from .actions import (
    AddCaseComment,
    CaseCommentIn,
    CaseIn,
    ContactIn,
    CreateCase,
    UpsertContact,
)
from .auth import SalesforceOAuth, SalesforceSession
from .config import SalesforceConfig
from .oauth_connect import salesforce_oauth_app
from .sandbox import SandboxState, create_sandbox_app

__all__ = [
    "AddCaseComment",
    "CaseCommentIn",
    "CaseIn",
    "ContactIn",
    "CreateCase",
    "SalesforceConfig",
    "SalesforceOAuth",
    "SalesforceSession",
    "SandboxState",
    "UpsertContact",
    "connector",
    "create_sandbox_app",
]


def _base_url(cfg: Any) -> str:
    """The HTTP client's base before any token exists: the instance override, else the login host.

    Actions call the API by absolute URL on the token response's ``instance_url``.
    """
    assert isinstance(cfg, SalesforceConfig)
    return (cfg.instance_url or cfg.login_url).rstrip("/")


connector = Connector(
    name="salesforce",
    title="Salesforce Service Cloud",
    config=SalesforceConfig,
    actions=(CreateCase, AddCaseComment, UpsertContact),
    session=SalesforceSession,
    base_url=_base_url,
    sandbox=create_sandbox_app,
    docs=__doc__ or "",
    oauth=salesforce_oauth_app(),
)
