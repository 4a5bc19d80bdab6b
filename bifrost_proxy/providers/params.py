"""Map, drop or reject: the one rule every native adapter applies to OpenAI chat parameters (issue 7).

- **Map** a parameter whenever the provider has an equivalent. Each adapter's request module says how.
- **Reject** with 400 ``unsupported_parameter``, naming the parameter, when honouring it would change
  *what the answer contains* and the provider cannot: the ``REJECTED`` names below (each only when its
  value asks for something: ``n`` 1, ``logprobs`` false and ``modalities: ["text"]`` ask for nothing),
  tools that are not functions, message content parts the provider cannot read (``unsupported_part``),
  and ``response_format`` kinds the provider cannot honour.
- **Drop**, silently, what only tunes sampling or labels the call when the provider has no equivalent:
  the ``DROPPED`` names below, the values of ``REJECTED`` names that ask for nothing, and every name
  OpenAI does not define (adapters build upstream bodies from the names they know, never by copying).

An adapter calls ``reject_unsupported(body, supported, provider)`` before translating, with ``supported``
the ``REJECTED`` names it maps (gemini: ``{"n", "response_format"}``, as ``candidateCount`` and
``responseMimeType``). Every refusal is a ``BadRequest`` built by ``unsupported``, so clients can tell
"this provider cannot do that" (``code: unsupported_parameter``) from a malformed request (no code).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Collection

from bifrost_proxy.errors import BadRequest

UNSUPPORTED = "unsupported_parameter"


@dataclass(frozen=True, slots=True)
class Refusal:
    """A parameter that changes what the answer contains; ``asks(value)`` says whether this value does."""

    name: str
    asks: Callable[[Any], bool]
    why: str  # "{p}" is the provider's name


def _text_only(value: Any) -> bool:
    return isinstance(value, list) and all(m == "text" for m in value)


def _format_kind(value: Any) -> Any:
    return value.get("type") if isinstance(value, dict) else value


# In the order they are checked: a request with several is answered about the first.
REFUSALS: tuple[Refusal, ...] = (
    Refusal("n", lambda v: v is not None and v != 1, "{p} returns one choice per request: 'n' must be 1"),
    Refusal("logprobs", lambda v: v not in (None, False),
            "{p} does not return log probabilities: drop 'logprobs' or set it to false"),
    Refusal("top_logprobs", lambda v: v not in (None, 0),
            "{p} does not return log probabilities: drop 'top_logprobs'"),
    Refusal("modalities", lambda v: v is not None and not _text_only(v),
            "{p} answers with text only: 'modalities' may hold \"text\" only"),
    Refusal("audio", lambda v: v is not None, "{p} answers with text only: drop 'audio'"),
    # an empty object turns web search on (OpenAI's search models), so any value asks for it
    Refusal("web_search_options", lambda v: v is not None,
            "web search is not translated for {p}: drop 'web_search_options'"),
    Refusal("response_format", lambda v: v is not None and _format_kind(v) != "text",
            "{p} cannot be held to a response_format other than text: drop it or describe the JSON "
            "you want in the prompt"),
)
REJECTED = frozenset(r.name for r in REFUSALS)
# Tuning and labelling parameters: an answer made without them is still a correct answer.
DROPPED = frozenset({
    "presence_penalty", "frequency_penalty", "seed", "logit_bias", "user", "metadata", "store", "service_tier",
    "parallel_tool_calls", "prediction", "prompt_cache_key", "prompt_cache_retention", "safety_identifier",
    "verbosity", "reasoning_effort",
})


def shown(value: Any) -> str:
    """A client's value as quoted in a message: its repr, cut short (it may be anything, of any size)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def unsupported(param: str, message: str) -> BadRequest:
    """The 400 for something the provider cannot honour (as opposed to a malformed request)."""
    return BadRequest(message, param=param, code=UNSUPPORTED)


def unsupported_part(at: str, kind: Any, provider: str, readable: str) -> BadRequest:
    """The 400 for a message content part ``at`` (``messages[i].content[j]``) the provider cannot read."""
    return unsupported(at, f"{at}: {provider} cannot read content parts of type {shown(kind)} "
                           f"(it reads {readable})")


def reject_unsupported(body: dict[str, Any], supported: Collection[str], provider: str) -> None:
    """Raise ``unsupported`` for the first ``REJECTED`` parameter not in ``supported`` that asks for
    something, or for the first tool that is not a function; return quietly otherwise.

    ``provider`` names the provider in the message ("Anthropic", "Gemini", ...).
    """
    for refusal in REFUSALS:
        if refusal.name not in supported and refusal.asks(body.get(refusal.name)):
            raise unsupported(refusal.name, refusal.why.format(p=provider))
    tools = body.get("tools")
    if isinstance(tools, list):
        for i, tool in enumerate(tools):
            kind = tool.get("type", "function") if isinstance(tool, dict) else "function"
            if kind != "function":
                raise unsupported(f"tools[{i}].type", f"tools[{i}]: {provider} takes function tools only, "
                                                      f"not {shown(kind)}")


def tools_and_choice(body: dict[str, Any]) -> tuple[Any, Any]:
    """``(tools, tool_choice)``, reading the deprecated ``functions`` / ``function_call`` as them.

    A legacy ``function_call: {"name": N}`` comes back as ``{"type": "function", "function": {"name": N}}``,
    so adapters translate one shape. Values are not validated here.
    """
    tools = body.get("tools")
    if tools is None and isinstance(body.get("functions"), list):
        tools = [{"type": "function", "function": f} for f in body["functions"]]
    choice = body.get("tool_choice")
    legacy = body.get("function_call")
    if choice is None and legacy is not None:
        if isinstance(legacy, dict) and "function" not in legacy:
            choice = {"type": "function", "function": legacy}
        else:
            choice = legacy
    return tools, choice


def stop_sequences(req: dict[str, Any]) -> list[str] | None:
    """OpenAI's ``stop`` (a string or a list of strings) as a list, None when absent or empty; else a 400."""
    stop = req.get("stop")
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        return stop or None
    if stop is not None:
        raise BadRequest("'stop' must be a string or an array of strings", param="stop")
    return None
