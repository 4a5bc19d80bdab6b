"""The admin API, Bifrost's paths and objects, through real sockets: auth, create/list/get/update/revoke."""
from __future__ import annotations

import base64

import pytest

from tests.functional.test_governance import ADMIN, CHAT, TEAM_A, bearer, governed, team_a

KEYS = "/api/governance/virtual-keys"


def basic(password: str, user: str = "admin") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
async def admin_api(serve_app, fake_openai):
    base, store, app = await governed(serve_app, fake_openai, [team_a(
        rate_limit={"request_max_limit": 5, "request_reset_duration": "1d"})])
    return base, store, app


@pytest.mark.parametrize("headers", [{}, bearer("wrong-admin-key"), basic("wrong"), bearer(TEAM_A),
                                     {"Authorization": ADMIN}, {"Authorization": "Basic !!notbase64"}])
async def test_admin_api_refuses_without_the_admin_key(admin_api, http, headers):
    base, _, _ = admin_api
    async with http.get(f"{base}{KEYS}", headers=headers) as resp:
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "invalid_admin_key"


@pytest.mark.parametrize("headers", [bearer(ADMIN), basic(ADMIN), basic(ADMIN, user="")])
async def test_admin_api_takes_bearer_or_basic(admin_api, http, headers):
    base, _, _ = admin_api
    async with http.get(f"{base}{KEYS}", headers=headers) as resp:
        assert resp.status == 200


async def test_admin_api_is_off_without_an_admin_key(serve_app, fake_openai, http):
    base, _, _ = await governed(serve_app, fake_openai, [team_a()], admin_key=None)
    async with http.get(f"{base}{KEYS}", headers=bearer(ADMIN)) as resp:
        assert resp.status == 404
        error = (await resp.json())["error"]
    assert error["code"] == "admin_api_off" and "governance.admin_key" in error["message"]


async def test_create_shows_the_value_once_and_the_key_works_at_once(admin_api, http):
    base, _, _ = admin_api
    body = {"name": "ci-bot", "provider_configs": [{"provider": "openai", "allowed_models": ["gpt-4o*"], "weight": 1}],
            "rate_limit": {"request_max_limit": 10, "request_reset_duration": "1h", "token_max_limit": 5000,
                           "token_reset_duration": "1d"},
            "budget": {"max_limit": 2.5, "reset_duration": "1M"}, "is_active": True, "description": "CI"}
    async with http.post(f"{base}{KEYS}", json=body, headers=bearer(ADMIN)) as resp:
        assert resp.status == 201
        created = (await resp.json())["virtual_key"]
    value = created.pop("value")
    assert value.startswith("sk-bf-") and len(value) > 40
    assert created["name"] == "ci-bot" and created["source"] == "api" and created["budget"]["max_limit"] == 2.5
    async with http.post(f"{base}/v1/chat/completions", json=CHAT, headers=bearer(value)) as resp:
        assert resp.status == 200
    async with http.get(f"{base}{KEYS}/ci-bot", headers=bearer(ADMIN)) as resp:
        shown = (await resp.json())["virtual_key"]
    assert "value" not in shown and value not in str(shown)
    assert shown["rate_limit"]["request_current_usage"] == 1 and shown["rate_limit"]["token_current_usage"] == 21
    assert shown["budget"]["current_usage"] > 0 and shown["rate_limit"]["request_last_reset"].endswith(":00:00Z")
    async with http.get(f"{base}{KEYS}/{created['id']}", headers=bearer(ADMIN)) as resp:  # Bifrost tools use the id
        assert (await resp.json())["virtual_key"]["name"] == "ci-bot"
    async with http.get(f"{base}{KEYS}", headers=bearer(ADMIN)) as resp:
        listing = await resp.json()
    assert listing["count"] == 2 and [k["name"] for k in listing["virtual_keys"]] == ["ci-bot", "team-a"]
    assert value not in str(listing)


async def test_update_changes_the_fields_it_names_and_delete_revokes(admin_api, http):
    base, _, _ = admin_api
    async with http.post(f"{base}{KEYS}", json={"name": "temp"}, headers=bearer(ADMIN)) as resp:
        value = (await resp.json())["virtual_key"]["value"]
    change = {"provider_configs": [{"provider": "openai", "allowed_models": ["gpt-4o"]}]}
    async with http.put(f"{base}{KEYS}/temp", json=change, headers=bearer(ADMIN)) as resp:
        assert resp.status == 200
        updated = (await resp.json())["virtual_key"]
    assert updated["provider_configs"][0]["allowed_models"] == ["gpt-4o"] and updated["is_active"] is True
    async with http.post(f"{base}/v1/chat/completions", json=CHAT, headers=bearer(value)) as resp:
        assert resp.status == 403  # gpt-4o-mini is no longer allowed
    async with http.put(f"{base}{KEYS}/temp", json={"is_active": False}, headers=bearer(ADMIN)) as resp:
        assert resp.status == 200
    async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "model": "openai/gpt-4o"},
                         headers=bearer(value)) as resp:
        assert resp.status == 401
    async with http.delete(f"{base}{KEYS}/temp", headers=bearer(ADMIN)) as resp:
        assert resp.status == 200
    async with http.get(f"{base}{KEYS}/temp", headers=bearer(ADMIN)) as resp:
        assert resp.status == 404
    async with http.delete(f"{base}{KEYS}/temp", headers=bearer(ADMIN)) as resp:
        assert resp.status == 404


async def test_config_keys_are_read_only_here(admin_api, http):
    base, _, _ = admin_api
    async with http.put(f"{base}{KEYS}/team-a", json={"is_active": False}, headers=bearer(ADMIN)) as resp:
        assert resp.status == 409
        assert "declared in the gateway's config" in (await resp.json())["error"]["message"]
    async with http.delete(f"{base}{KEYS}/team-a", headers=bearer(ADMIN)) as resp:
        assert resp.status == 409
    async with http.post(f"{base}/v1/chat/completions", json=CHAT, headers=bearer(TEAM_A)) as resp:
        assert resp.status == 200


async def test_a_name_is_taken_once(admin_api, http):
    base, _, _ = admin_api
    async with http.post(f"{base}{KEYS}", json={"name": "team-a"}, headers=bearer(ADMIN)) as resp:
        assert resp.status == 409


@pytest.mark.parametrize("body, param", [
    ({}, "name"),
    ({"name": "a/b"}, "name"),
    ({"name": "x", "rate_limit": {"request_max_limit": 5}}, "rate_limit.request_reset_duration"),
    ({"name": "x", "rate_limit": {"request_max_limit": -1, "request_reset_duration": "1m"}},
     "rate_limit.request_max_limit"),
    ({"name": "x", "budget": {"max_limit": 5, "reset_duration": "monthly"}}, "budget.reset_duration"),
    ({"name": "x", "budgets": [{"max_limit": 1, "reset_duration": "1d"}, {"max_limit": 9, "reset_duration": "1M"}]},
     "budgets"),
    ({"name": "x", "provider_configs": [{"provider": "nope"}]}, "provider_configs[0].provider"),
    ({"name": "x", "provider_configs": [{"provider": "openai", "key_ids": ["k1"]}]}, "provider_configs[0].key_ids"),
    ({"name": "x", "expires_at": "2030-01-01T00:00:00Z"}, "expires_at"),
    ({"name": "x", "is_active": "yes"}, "is_active"),
])
async def test_bad_bodies_get_400_naming_the_field(admin_api, http, body, param):
    base, _, _ = admin_api
    async with http.post(f"{base}{KEYS}", json=body, headers=bearer(ADMIN)) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
    assert error["param"] == param and param in error["message"]


async def test_a_name_cannot_change_and_bad_json_is_a_400(admin_api, http):
    base, _, _ = admin_api
    async with http.post(f"{base}{KEYS}", json={"name": "n1"}, headers=bearer(ADMIN)) as resp:
        assert resp.status == 201
    async with http.put(f"{base}{KEYS}/n1", json={"name": "n2"}, headers=bearer(ADMIN)) as resp:
        assert resp.status == 400
    async with http.post(f"{base}{KEYS}", data=b"{not json", headers=bearer(ADMIN)) as resp:
        assert resp.status == 400


async def test_admin_api_answers_503_when_the_store_is_down(admin_api, http):
    base, store, _ = admin_api
    store.down = True
    async with http.get(f"{base}{KEYS}", headers=bearer(ADMIN)) as resp:
        assert resp.status == 503
    async with http.post(f"{base}{KEYS}", json={"name": "later"}, headers=bearer(ADMIN)) as resp:
        assert resp.status == 503
