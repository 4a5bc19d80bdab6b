"""Any JSON a client sends is translated or refused with a 400, never an exception of another kind."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bifrost_proxy.errors import BadRequest
from bifrost_proxy.inbound.genai.request import to_openai

NAMES = ["contents", "role", "parts", "text", "thought", "functionCall", "function_call", "functionResponse",
         "name", "args", "id", "response", "inlineData", "mimeType", "data", "fileData", "fileUri",
         "systemInstruction", "tools", "functionDeclarations", "parameters", "parametersJsonSchema", "type",
         "properties", "items", "nullable", "toolConfig", "functionCallingConfig", "mode", "allowedFunctionNames",
         "generationConfig", "temperature", "maxOutputTokens", "stopSequences", "responseMimeType",
         "responseSchema", "thinkingConfig", "thinkingBudget", "thinkingLevel", "includeThoughts", "fallbacks"]
SCALARS = st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False) | \
    st.sampled_from(["", "user", "model", "image/png", "audio/wav", "ANY", "OBJECT", "application/json", "x"])
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) |
                    st.dictionaries(st.sampled_from(NAMES), inner, max_size=4), max_leaves=25)
OBJECT = st.dictionaries(st.sampled_from(NAMES), JSON, max_size=4)


OBJECT = st.dictionaries(st.sampled_from(NAMES), JSON, max_size=4)
CALL = st.fixed_dictionaries({"name": st.sampled_from(["f", "g"])}, optional={"args": OBJECT, "id": SCALARS})
ANSWER = st.fixed_dictionaries({"name": st.sampled_from(["f", "g"])}, optional={"response": JSON, "id": SCALARS})
MEDIA = st.fixed_dictionaries({"mimeType": st.sampled_from(["image/png", "audio/wav", "application/pdf", "video/mp4"]),
                               "data": st.just("AAAA")}) | OBJECT
PART = st.one_of(st.fixed_dictionaries({"text": st.text(max_size=5)}, optional={"thought": st.booleans()}),
                 st.fixed_dictionaries({"functionCall": CALL | OBJECT}),
                 st.fixed_dictionaries({"functionResponse": ANSWER | OBJECT}),
                 st.fixed_dictionaries({"inlineData": MEDIA}), st.fixed_dictionaries({"fileData": OBJECT}), OBJECT)
TURN = st.fixed_dictionaries({"role": st.sampled_from(["user", "model", "user", "model", "function", "x"]),
                              "parts": st.lists(PART, min_size=1, max_size=3)})
CONTENTS = st.lists(TURN, min_size=1, max_size=4) | JSON
REQUEST = st.fixed_dictionaries({"contents": CONTENTS}, optional={
    "systemInstruction": JSON, "tools": st.lists(OBJECT | st.fixed_dictionaries(
        {"functionDeclarations": st.lists(OBJECT, max_size=2)}), max_size=2) | JSON,
    "toolConfig": st.fixed_dictionaries({"functionCallingConfig": OBJECT}) | JSON,
    "generationConfig": OBJECT | st.fixed_dictionaries({"thinkingConfig": OBJECT})})


@settings(max_examples=600, deadline=None)
@given(REQUEST | OBJECT)
def test_translation_answers_or_refuses_with_a_400(request):
    try:
        to_openai(request, "openai/gpt-4o-mini", False)
    except BadRequest as exc:
        assert exc.param and exc.message
