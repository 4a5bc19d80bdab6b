"""README's curl example, run with the real curl against the gateway and a fake OpenAI upstream."""
from __future__ import annotations

import asyncio
import shutil

import pytest

from tests.conftest import openai_config
from tests.fakes.openai import STREAM_WITHOUT_USAGE

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed (.ci/run installs it)")


async def test_readme_stream_example(gateway, fake_openai):
    base = await gateway(openai_config(fake_openai.base_url))
    proc = await asyncio.create_subprocess_exec(
        "curl", "-sN", f"{base}/v1/chat/completions", "-H", "Content-Type: application/json",
        "-d", '{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"Tell me a story"}],'
              '"stream":true}',
        stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    assert out == b"".join(STREAM_WITHOUT_USAGE)
    assert b'"delta":{"content":"Once"}' in out and out.endswith(b"data: [DONE]\n\n")
