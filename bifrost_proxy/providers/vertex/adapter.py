"""The ``vertex`` adapter: Gemini and Anthropic models hosted by Vertex AI, behind Google OAuth.

URL: ``{host}/v1/projects/{project}/locations/{region}/publishers/{publisher}/models/{model}:{method}`` with
host ``https://{region}-aiplatform.googleapis.com`` (``https://aiplatform.googleapis.com`` for region
``global``; ``network_config.base_url`` replaces either). Models named ``claude-*`` go to publisher
``anthropic`` (``:rawPredict`` / ``:streamRawPredict``, Anthropic's Messages body without ``model`` and
with ``anthropic_version: vertex-2023-10-16``); every other model to publisher ``google``
(``:generateContent`` / ``:streamGenerateContent?alt=sse``, the Gemini body; embeddings ``:predict``).

Settings, per key (``vertex_key_config``; ``options`` of the provider serve as defaults): ``project_id``,
``region``, ``auth_credentials`` (the service-account key file, as a JSON string or a mapping). The
access token is fetched by ``authorize``, the hook dispatch awaits after ``build_request``. A key with no
``auth_credentials`` but a ``value`` is a Vertex API key (express mode): sent as ``x-goog-api-key``,
and without ``project_id`` the URL is the project-less ``{host}/v1/publishers/google/models/...``.
"""
from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import quote

import orjson

from bifrost_proxy.config.schema import KeyConfig, ProviderConfig
from bifrost_proxy.errors import AuthenticationFailed, BadRequest, GatewayError
from bifrost_proxy.providers import anthropic
from bifrost_proxy.providers.base import Call, Endpoint, StreamDecoder, UpstreamRequest
from bifrost_proxy.providers.gemini.errors import google_error, parse_google_error
from bifrost_proxy.providers.gemini.request import build_generate_body
from bifrost_proxy.providers.gemini.response import parse_generate_response
from bifrost_proxy.providers.gemini.stream import GeminiStreamDecoder
from bifrost_proxy.providers.vertex.auth import AccessTokenCache, CredentialsError, load_private_key, parse_credentials
from bifrost_proxy.providers.vertex.embeddings import build_predict_body, parse_predict_response

ANTHROPIC_VERSION = "vertex-2023-10-16"
GLOBAL_HOST = "https://aiplatform.googleapis.com"
REGIONAL_HOST = "https://{}-aiplatform.googleapis.com"
TOKEN_CACHE = "vertex_access_tokens"  # the key of our AccessTokenCache in the provider's runtime state


def publisher(model: str) -> str:
    return "anthropic" if model.startswith("claude") else "google"


def setting(provider: ProviderConfig, key: KeyConfig, name: str) -> Any:
    value = key.settings.get(name)
    return value if value not in (None, "") else provider.options.get(name)


class VertexAdapter:
    wire_type = "vertex"

    def supports(self, endpoint: Endpoint) -> bool:
        return endpoint in (Endpoint.CHAT, Endpoint.EMBEDDINGS)

    def validate(self, provider: ProviderConfig) -> list[str]:
        problems = []
        for i, key in enumerate(provider.keys):
            path = f"keys[{i}].vertex_key_config"
            creds = setting(provider, key, "auth_credentials")
            if creds:
                try:
                    parsed = parse_credentials(creds)
                    if parsed.type == "service_account":
                        load_private_key(parsed.private_key)
                except CredentialsError as exc:
                    problems.append(f"{path}.{exc}")
            elif not key.value:
                problems.append(f"{path}.auth_credentials: required (a service-account key file), "
                                "unless the key's value is a Vertex API key")
            project, region = setting(provider, key, "project_id"), setting(provider, key, "region")
            if not project and (creds or not key.value):
                problems.append(f"{path}.project_id: required")
            if project and not region:
                problems.append(f"{path}.region: required (us-central1, europe-west4, global, ...)")
        return problems

    def url(self, call: Call, provider: ProviderConfig, key: KeyConfig, method: str) -> str:
        project = setting(provider, key, "project_id")
        # express mode (an API key, no project) is served by the global endpoint only
        region = str(setting(provider, key, "region") or "global") if project else "global"
        host = provider.network.base_url or (GLOBAL_HOST if region == "global" else REGIONAL_HOST.format(region))
        version = provider.options.get("api_version", "v1")
        scope = f"/projects/{quote(str(project), safe='')}/locations/{quote(region, safe='')}" if project else ""
        model = quote(call.model, safe="@")
        return f"{host}/{version}{scope}/publishers/{publisher(call.model)}/models/{model}:{method}"

    def build_request(self, call: Call, provider: ProviderConfig, key: KeyConfig) -> UpstreamRequest:
        claude = publisher(call.model) == "anthropic"
        body: dict[str, Any]
        if call.endpoint is Endpoint.CHAT and claude:
            body = anthropic.build_messages_body(call, provider.options.get("default_max_tokens"))
            body.pop("model", None)  # the URL names the model
            body["anthropic_version"] = str(provider.options.get("anthropic_version", ANTHROPIC_VERSION))
            method = "streamRawPredict" if call.stream else "rawPredict"
        elif call.endpoint is Endpoint.CHAT:
            body = build_generate_body(call)
            method = "streamGenerateContent?alt=sse" if call.stream else "generateContent"
        elif call.endpoint is Endpoint.EMBEDDINGS and not claude:
            body, method = build_predict_body(call), "predict"
        else:
            raise BadRequest(f"Vertex AI does not serve {call.endpoint.value} for model {call.model[:200]!r}",
                             param="model")
        return UpstreamRequest("POST", self.url(call, provider, key, method), self.headers(provider, key),
                               orjson.dumps(body))

    def headers(self, provider: ProviderConfig, key: KeyConfig) -> dict[str, str]:
        """Without the OAuth token, which ``authorize`` adds; an express-mode API key goes here."""
        headers = dict(provider.network.extra_headers)
        headers["Content-Type"] = "application/json"
        if key.value and not setting(provider, key, "auth_credentials"):
            headers["x-goog-api-key"] = key.value
        return headers

    async def authorize(self, request: UpstreamRequest, provider: ProviderConfig, key: KeyConfig, session: Any,
                        state: dict[str, Any]) -> None:
        """Add the OAuth access token: dispatch awaits this after ``build_request``, before sending.

        Tokens are cached in ``state`` (the provider's runtime state) until shortly before they expire.
        """
        creds = setting(provider, key, "auth_credentials")
        if not creds:
            return
        cache = state.get(TOKEN_CACHE)
        if cache is None:
            cache = state[TOKEN_CACHE] = AccessTokenCache()
        try:
            token = await cache.token(session, creds)
        except CredentialsError as exc:
            raise AuthenticationFailed(f"key {key.name!r}: {exc}", code="vertex_credentials_invalid") from None
        request.headers["Authorization"] = f"Bearer {token}"

    def forget_authorization(self, provider: ProviderConfig, key: KeyConfig, state: dict[str, Any]) -> None:
        """Drop ``key``'s cached token, so the next ``authorize`` fetches a new one.

        For dispatch to call when Vertex refused a request's token (401) although it had not expired
        (a revoked or rotated service-account key); without it the token is reused until it expires.
        """
        creds = setting(provider, key, "auth_credentials")
        cache = state.get(TOKEN_CACHE)
        if creds and cache is not None:
            cache.invalidate(creds)

    def parse_response(self, call: Call, headers: Mapping[str, str], body: bytes) -> bytes:
        if call.endpoint is Endpoint.EMBEDDINGS:
            return parse_predict_response(call, body)
        if publisher(call.model) == "anthropic":
            return anthropic.ADAPTER.parse_response(call, headers, body)
        return parse_generate_response(call, body)

    def parse_error(self, call: Call, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
        if publisher(call.model) == "anthropic":
            # Vertex's own refusals (quota, auth) are Google-shaped; the model's are Anthropic-shaped
            try:
                obj = orjson.loads(body) if body else None
            except orjson.JSONDecodeError:
                obj = None
            err = obj.get("error") if isinstance(obj, dict) else None
            if not (isinstance(err, dict) and ("status" in err or isinstance(err.get("code"), int))):
                return anthropic.parse_anthropic_error(status, headers, body)
            mapped = google_error(obj, status, headers)
            if mapped is not None:
                return mapped
        return parse_google_error(status, headers, body)

    def stream_decoder(self, call: Call) -> StreamDecoder:
        if publisher(call.model) == "anthropic":
            return anthropic.AnthropicStreamDecoder(call)
        return GeminiStreamDecoder(call)
