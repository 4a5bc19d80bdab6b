"""The governance answers, as ``GatewayError``s of the one tree: 401, 403, 429, 402, 503.

402 (not 429) for a spent budget: the OpenAI and Anthropic SDKs retry a 429 by themselves, and a budget
does not come back in seconds. Messages name the key by its name and the model, never a value.
"""
from __future__ import annotations

from aiohttp import web

from bifrost_proxy.appkeys import DIALECT
from bifrost_proxy.errors import AuthenticationFailed, GatewayError, PermissionDenied, RateLimited

HOW_TO_SEND = ("send it as 'Authorization: Bearer KEY' (OpenAI SDKs), 'x-api-key' (Anthropic SDK), "
               "'x-goog-api-key' or '?key=' (Gemini SDK), or 'x-bf-vk'")


class InvalidVirtualKey(AuthenticationFailed):
    code = "invalid_api_key"
    type = "invalid_request_error"  # what OpenAI answers for a bad key


class ModelNotAllowed(PermissionDenied):
    code = "model_not_allowed"


class KeyRateLimited(RateLimited):
    code = "rate_limit_exceeded"
    type = "requests"  # OpenAI's type for a requests-per-minute limit; "tokens" for a token limit
    retryable = False  # for our own retry logic: the client may retry after Retry-After


class BudgetExceeded(GatewayError):
    status = 402
    type = "insufficient_quota"
    code = "budget_exceeded"


class StoreDown(GatewayError):
    """The governance store cannot answer: fail closed, never serve without counting."""

    status = 503
    type = "api_error"
    code = "governance_unavailable"


def in_dialect(request: web.Request, error: GatewayError) -> GatewayError:
    """A key refused before the handler ran, so before it named its API: answer in the client's own shape
    (Anthropic's, Google's, the Responses API's), as every other error of that API is. Only on this path."""
    path = request.path
    if path.startswith("/anthropic/"):
        from bifrost_proxy.inbound.anthropic.dialect import ANTHROPIC as dialect
    elif path.startswith("/genai/"):
        from bifrost_proxy.inbound.genai.dialect import GENAI as dialect
    elif path.startswith("/v1/responses"):
        from bifrost_proxy.inbound.responses.dialect import DIALECT as dialect
    else:
        return error
    request[DIALECT] = dialect
    return error
