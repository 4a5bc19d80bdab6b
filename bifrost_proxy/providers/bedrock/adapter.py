"""The ``bedrock`` adapter: URLs, credentials and signing around the request/response translations."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Callable, Mapping
from urllib.parse import quote, urlsplit

import orjson

from bifrost_proxy.config.schema import KeyConfig, ProviderConfig
from bifrost_proxy.errors import BadRequest, GatewayError
from bifrost_proxy.providers.base import Call, Endpoint, UpstreamRequest
from bifrost_proxy.providers.bedrock import embeddings, sigv4
from bifrost_proxy.providers.bedrock.errors import parse_bedrock_error
from bifrost_proxy.providers.bedrock.request import converse_body
from bifrost_proxy.providers.bedrock.response import chat_completion
from bifrost_proxy.providers.bedrock.stream import ConverseStreamDecoder

SERVICE = "bedrock"
DEFAULT_REGION = "us-east-1"
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
# Characters left raw in the model segment. aiohttp's URL library (yarl) turns %-escapes of exactly these
# back into the characters, so escaping them would sign one path and send another (model ids hold ':').
PATH_SAFE = "!$&'()*,;=:@"


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class BedrockAdapter:
    """Chat (Converse / ConverseStream) and embeddings (InvokeModel: Titan, Cohere) on Amazon Bedrock."""

    wire_type = "bedrock"

    def __init__(self, clock: Callable[[], datetime] = _utcnow) -> None:
        self._clock = clock  # a parameter so that tests can sign at a fixed time

    def supports(self, endpoint: Endpoint) -> bool:
        return endpoint in (Endpoint.CHAT, Endpoint.EMBEDDINGS)

    def validate(self, provider: ProviderConfig) -> list[str]:
        problems = []
        for i, key in enumerate(provider.keys):
            where = f"keys[{i}].bedrock_key_config"
            settings = key.settings
            has_access, has_secret = bool(settings.get("access_key")), bool(settings.get("secret_key"))
            if has_access != has_secret:
                missing = "secret_key" if has_access else "access_key"
                problems.append(f"{where}.{missing}: required with {'access_key' if has_access else 'secret_key'}")
            elif not has_access and not key.value:
                problems.append(f"{where}: needs access_key and secret_key (or a Bedrock API key as the key's value)")
            region = settings.get("region")
            if region is not None and not (isinstance(region, str) and REGION.match(region)):
                problems.append(f"{where}.region: must be an AWS region name like us-east-1")
        return problems

    def build_request(self, call: Call, provider: ProviderConfig, key: KeyConfig) -> UpstreamRequest:
        if call.endpoint is Endpoint.CHAT:
            action = "converse-stream" if call.stream else "converse"
            body = converse_body(call)
        elif call.endpoint is Endpoint.EMBEDDINGS:
            action = "invoke"
            body = embeddings.request_body(call)
        else:
            raise BadRequest(f"the bedrock wire type does not serve the {call.endpoint.value} endpoint")
        region = str(key.settings.get("region") or DEFAULT_REGION)
        base = provider.network.base_url or f"https://bedrock-runtime.{region}.amazonaws.com"
        url = f"{base}/model/{quote(call.model, safe=PATH_SAFE)}/{action}"
        payload = orjson.dumps(body)
        headers = dict(provider.network.extra_headers)
        headers["Host"] = urlsplit(url).netloc  # sent as signed, not left for the client library to fill in
        headers["Content-Type"] = "application/json"
        headers["Accept"] = "application/vnd.amazon.eventstream" if call.stream else "application/json"
        credentials = credentials_of(key)
        if credentials is None:
            # a Bedrock API key (https://docs.aws.amazon.com/bedrock/latest/userguide/api-keys.html)
            headers["Authorization"] = "Bearer " + key.value
        else:
            headers.update(sigv4.sign("POST", url, headers, payload, credentials, region, SERVICE, self._clock()))
        return UpstreamRequest("POST", url, headers, payload)

    def parse_response(self, call: Call, headers: Mapping[str, str], body: bytes) -> bytes:
        if call.endpoint is Endpoint.EMBEDDINGS:
            return embeddings.response_body(call, headers, body)
        return chat_completion(call, headers, body)

    def parse_error(self, call: Call, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
        return parse_bedrock_error(status, headers, body)

    def stream_decoder(self, call: Call) -> ConverseStreamDecoder:
        return ConverseStreamDecoder(call)


def credentials_of(key: KeyConfig) -> sigv4.Credentials | None:
    settings = key.settings
    access, secret = settings.get("access_key"), settings.get("secret_key")
    if not access or not secret:
        return None
    token = settings.get("session_token")
    return sigv4.Credentials(str(access), str(secret), str(token) if token else None)
