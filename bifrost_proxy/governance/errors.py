"""The governance answers, as ``GatewayError``s of the one tree: 401, 403, 429, 402, 503.

402 (not 429) for a spent budget: the OpenAI and Anthropic SDKs retry a 429 by themselves, and a budget
does not come back in seconds. Messages name the key by its name and the model, never a value.
"""
from __future__ import annotations

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
