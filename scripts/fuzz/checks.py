"""The fuzz run's own checks, loaded by schemathesis through SCHEMATHESIS_HOOKS.

Schemathesis' built-in checks judge status codes, content types and bodies against the spec;
these add what the spec cannot say: every 4xx carries the project's error envelope (docs/
contract.md, "Error envelope"), and `/admin/*` without the token answers 401 and nothing else.
"""

import json
import os

import schemathesis


def _header(response, name):
    values = response.headers.get(name.lower()) or []
    return values[0] if values else None


@schemathesis.check
def error_envelope(ctx, response, case):
    """A 4xx body is `{"detail": ..., "correlation_id": <the x-correlation-id header>}`."""
    if not 400 <= response.status_code < 500:
        return None
    # The two raw-body endpoints leave an oversized body to the framework's plain-text 413,
    # as the contract says; everything else is JSON.
    if response.status_code == 413:
        return None
    try:
        body = json.loads(response.content)
    except ValueError as err:
        raise AssertionError(f"{response.status_code} without a JSON envelope: {err}") from None
    if not isinstance(body, dict) or "detail" not in body:
        raise AssertionError(f"{response.status_code} body has no `detail`: {body!r:.200}")
    header = _header(response, "x-correlation-id")
    if body.get("correlation_id") != header:
        raise AssertionError(
            f"correlation_id {body.get('correlation_id')!r} differs from the header {header!r}"
        )
    return None


@schemathesis.check
def admin_needs_the_token(ctx, response, case):
    """Without the valid token every admin route answers 401, before it looks at the body.

    The run passes the stack's token in MS_FUZZ_ADMIN_TOKEN only to compare: a request that
    carries anything else (nothing, or a bearer the generator made up) must be refused.
    """
    if not case.operation.path.startswith("/admin"):
        return None
    valid = "Bearer " + os.environ.get("MS_FUZZ_ADMIN_TOKEN", "")
    sent = response.request.headers.get("Authorization")
    if sent != valid and response.status_code != 401:
        raise AssertionError(
            f"{case.method} {case.operation.path} without the token answered "
            f"{response.status_code}, not 401"
        )
    return None
