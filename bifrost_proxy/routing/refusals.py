"""Did the upstream refuse the key, and for every model or for one (issue 11)?

A 401 says the key itself is bad: cool it for every model. A 403 or 404 that concerns a model (the model
does not exist for this account, the account may not use it) says nothing about the key's other models:
cool the key for that model only, or a key refused one model would take its working models down too. The
providers say so in their own words, which this module reads:

- OpenAI and the OpenAI-compatible services: 404/403 ``code: "model_not_found"`` ("The model `x` does not
  exist or you do not have access to it."); Azure: 404 ``DeploymentNotFound`` (a deployment is a model);
- Anthropic: 404 ``not_found_error`` "model: claude-..."; a 403 ``permission_error`` without a model is the key's;
- Bedrock: 403 ``AccessDeniedException`` "You don't have access to the model with the specified model ID.";
- Vertex and Gemini: 404 ``NOT_FOUND`` "Publisher Model `projects/.../models/x` was not found or your
  project does not have access to it", "models/x is not found for API version v1beta".

A 403 with no model in it is the key's (a region, a project, a revoked permission); a 404 with no model in
it is the request's own error (a wrong route), never a refusal. When in doubt the narrower scope wins: a
model cooled too narrowly costs one more upstream call, a key cooled too widely refuses answers it had.
"""
from __future__ import annotations

from enum import Enum

from bifrost_proxy.errors import GatewayError


class Refusal(Enum):
    KEY = "refused"  # the key itself: skipped for every model (the value names the metrics' reason label)
    MODEL = "model_refused"  # the key may not use this model: skipped for this model only


# words in an error's code or message that tie a refusal to the model rather than to the key
MODEL_WORDS = ("model", "deployment")


def refusal(error: GatewayError, *models: str) -> Refusal | None:
    """How far the upstream's ``error`` refuses the key it was sent with; None when it is no refusal.

    ``models`` are the names the request used for the model (as requested, and as sent upstream).
    """
    status = error.status
    if status == 401:
        return Refusal.KEY
    if status != 403 and status != 404:
        return None
    if _names_a_model(error, models):
        return Refusal.MODEL
    return Refusal.KEY if status == 403 else None


def _names_a_model(error: GatewayError, models: tuple[str, ...]) -> bool:
    text = f"{error.code or ''} {error.message}".lower()
    if any(word in text for word in MODEL_WORDS):
        return True
    return any(len(model) >= 3 and model.lower() in text for model in models)
