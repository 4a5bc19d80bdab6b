"""Any request body, however wrong, is translated or refused with a 400 naming a field: never a crash."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bifrost_proxy.errors import BadRequest
from bifrost_proxy.inbound.responses.request import check_request, to_chat_body

# hypothesis's failure report imports a module that warns; with filterwarnings=error that would hide the report
pytestmark = pytest.mark.filterwarnings("ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=10)
kinds = st.sampled_from(["message", "function_call", "function_call_output", "reasoning", "item_reference",
                         "input_text", "input_image", "input_file", "output_text", "refusal", None])
texts = st.text(max_size=5)
parts = st.fixed_dictionaries({"type": kinds}, optional={
    "text": texts | json_values, "image_url": texts | json_values, "file_id": texts | json_values,
    "file_data": texts, "refusal": texts | json_values, "detail": texts})
item_kinds = st.sampled_from(["message"] * 4 + ["function_call", "function_call_output", "reasoning",
                                                "item_reference", None])
roles = st.sampled_from(["user"] * 4 + ["assistant", "system", "developer", "tool"])
items = st.fixed_dictionaries({"type": item_kinds, "role": roles, "content": texts | st.lists(parts, max_size=2)},
                              optional={"call_id": texts | json_values, "name": texts, "arguments": texts | json_values,
                                        "output": texts | st.lists(parts, max_size=2) | json_values})
tools = st.fixed_dictionaries({"type": st.sampled_from(["function", "web_search"])}, optional={
    "name": texts | json_values, "parameters": json_values, "strict": json_values})
# every top-level field of any JSON kind
shallow = st.fixed_dictionaries({"model": st.just("anthropic/claude") | json_values}, optional={
    name: json_values for name in ("input", "instructions", "tools", "tool_choice", "text", "reasoning",
                                   "max_output_tokens", "temperature", "store", "previous_response_id", "include",
                                   "stream", "parallel_tool_calls", "fallbacks", "top_logprobs")})
# well-typed top level, anything inside the items, parts and tools the translation walks
deep = st.fixed_dictionaries({"model": st.just("anthropic/claude"), "input": st.lists(items, min_size=1, max_size=3)},
                             optional={"instructions": st.text(max_size=5), "tools": st.lists(tools, max_size=2),
                                       "tool_choice": st.sampled_from(["auto", "none", "required", "x"]) | json_values,
                                       "text": st.fixed_dictionaries({}, optional={"format": json_values}),
                                       "reasoning": st.dictionaries(st.just("effort"), json_values)})


@settings(max_examples=300, deadline=None, derandomize=True)
@given(shallow | deep)
def test_any_body_is_translated_or_a_400_naming_a_field(body):
    try:
        check_request(body)
        chat = to_chat_body(body, "anthropic")
    except BadRequest as exc:
        assert exc.status == 400 and exc.message and exc.param
        return
    assert isinstance(chat["messages"], list) and chat["messages"]
    assert all(m["role"] in ("system", "user", "assistant", "tool") for m in chat["messages"])
