"""Gemini's API in front of every provider: ``POST /genai/{v1,v1beta}/models/{model}:generateContent`` and
``:streamGenerateContent?alt=sse`` (issue 13; the handler is ``endpoints/genai.py``).

``dialect.py`` is the ``Dialect`` the request path uses; ``request.py`` and ``contents.py`` translate a
``GenerateContentRequest`` into OpenAI's chat shape, ``response.py`` and ``stream.py`` translate back,
``errors.py`` gives Google's error shape, ``passthrough.py`` sends the request untouched to ``gemini``
and ``vertex`` upstreams.
"""
