"""Anthropic's Messages API in front of every provider (issue 13): ``/anthropic/v1/messages`` and
``/anthropic/v1/messages/count_tokens``.

``request.py`` checks a request and translates it to OpenAI's chat shape (``content.py``: block by block);
``response.py`` and ``stream.py`` turn OpenAI answers and stream frames into Anthropic's (``tool_ids.py``:
what a provider needs back rides in a tool_use id); ``errors.py``
gives every error Anthropic's shape and status; ``passthrough.py`` sends the request untouched to a
provider of the ``anthropic`` wire type; ``count_tokens.py`` estimates where no provider counts;
``dialect.py`` ties them to the request path (``inbound/base.py``). The handlers are in
``endpoints/anthropic.py``.
"""
