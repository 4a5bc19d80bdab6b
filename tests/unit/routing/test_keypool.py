"""Key choice: weights, model eligibility, aliases, exclusions and cooldowns, with a seeded rng and a fake clock."""
from __future__ import annotations

import random
from collections import Counter
from types import MappingProxyType

import pytest

from bifrost_proxy.config.schema import KeyConfig, NetworkConfig, ProviderConfig
from bifrost_proxy.routing.keypool import MAX_CACHED_MODEL_LENGTH, MAX_CACHED_MODELS, MAX_MODEL_COOLDOWNS, \
    MODEL_REFUSED, RATE_LIMITED, REFUSED, KeyPool


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def provider(*keys: KeyConfig) -> ProviderConfig:
    return ProviderConfig(name="openai", type="openai", keys=keys, network=NetworkConfig(base_url="http://x"))


A = KeyConfig(name="a", value="va", weight=3.0)
B = KeyConfig(name="b", value="vb", weight=1.0)
ONLY_MINI = KeyConfig(name="mini", value="vm", models=("gpt-4o-mini",))
ALIASED = KeyConfig(name="az", value="vz", models=("deployment-x",),
                    aliases=MappingProxyType({"gpt-4o": "deployment-x"}))


def pool(*keys: KeyConfig, seed: int = 7) -> tuple[KeyPool, Clock]:
    clock = Clock()
    return KeyPool(provider(*keys), rng=random.Random(seed), clock=clock), clock


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_weights_3_to_1_within_two_percent_over_20000_draws(seed):
    keys, _ = pool(A, B, seed=seed)
    counts = Counter(keys.choose("gpt-4o-mini").name for _ in range(20000))
    # expected share of "a" is 0.75; the standard deviation of the share over 20000 draws is 0.003
    assert abs(counts["a"] / 20000 - 0.75) < 0.02


def test_weights_hold_among_the_keys_left_after_an_exclusion():
    c = KeyConfig(name="c", value="vc", weight=1.0)
    keys, _ = pool(A, B, c)
    counts = Counter(keys.choose("m", exclude=["b"]).name for _ in range(8000))
    assert set(counts) == {"a", "c"}
    assert abs(counts["a"] / 8000 - 0.75) < 0.03


def test_only_keys_whose_models_admit_the_model_are_chosen():
    keys, _ = pool(A, ONLY_MINI, ALIASED)
    assert {keys.choose("gpt-4o-mini").name for _ in range(200)} == {"a", "mini"}
    assert {keys.choose("o1").name for _ in range(50)} == {"a"}
    # an alias admits the requested name (the name sent upstream is the alias target; dispatch applies it)
    assert [k.name for k in keys.eligible("gpt-4o")] == ["a", "az"]
    keys_without_star, _ = pool(ONLY_MINI)
    assert keys_without_star.choose("o1") is None
    assert keys_without_star.eligible("o1") == ()


def test_excluded_and_cooling_keys_are_skipped_until_the_cooldown_ends():
    keys, clock = pool(A, B)
    keys.cool_down(A, 2.0, 429, RATE_LIMITED)
    assert {keys.choose("m").name for _ in range(100)} == {"b"}
    assert keys.choose("m", exclude=["b"]) is None
    assert keys.soonest_ready("m", exclude=["b"]) == pytest.approx(2.0)
    assert keys.cooling() == ["a"] and keys.cooling_for("m") == ["a"]
    clock.now += 2.0
    assert keys.choose("m", exclude=["b"]).name == "a"
    assert keys.cooling() == [] and keys.cooling_for("m") == []


def test_a_cooldown_is_never_shortened_and_remembers_its_reason():
    keys, clock = pool(A, B)
    keys.cool_down(A, 60.0, 401, REFUSED)
    keys.cool_down(A, 1.0, 429, RATE_LIMITED)  # a shorter rate-limit cooldown does not cut the refusal short
    clock.now += 30
    assert keys.choose("m", exclude=["b"]) is None
    assert [(name, reason) for name, reason, _, _ in keys.cooldowns()] == [("a", REFUSED)]
    keys.cool_down(B, 5.0, 429, RATE_LIMITED)
    # only rate-limited keys are worth waiting for; a refused one is tried again instead
    assert keys.soonest_ready("m") == pytest.approx(5.0)
    assert keys.soonest_ready("m", exclude=["b"]) is None
    assert keys.oldest_refused("m").name == "a"
    assert keys.oldest_refused("m", exclude=["a"]) is None  # b is rate limited: waited for, not retried


def test_a_refusal_of_one_model_leaves_the_keys_other_models_served():
    keys, clock = pool(A, B)
    keys.cool_down(A, 60.0, 404, MODEL_REFUSED, model="gpt-4o")
    assert {keys.choose("gpt-4o").name for _ in range(100)} == {"b"}
    assert {keys.choose("gpt-4o-mini").name for _ in range(400)} == {"a", "b"}
    assert keys.cooling_for("gpt-4o") == ["a"] and keys.cooling_for("gpt-4o-mini") == []
    assert keys.cooldowns() == [("a", MODEL_REFUSED, "gpt-4o", pytest.approx(60.0))]
    assert keys.cooling() == ["a"]
    clock.now += 60
    assert keys.cooling_for("gpt-4o") == []


def test_a_key_refused_for_every_model_is_skipped_for_each():
    keys, _ = pool(A, B)
    keys.cool_down(A, 60.0, 401, REFUSED)
    for model in ("gpt-4o", "gpt-4o-mini", "o1"):
        assert keys.choose(model, exclude=["b"]) is None
        assert keys.oldest_refused(model).name == "a"


def test_the_key_refused_longest_ago_is_tried_first():
    c = KeyConfig(name="c", value="vc", weight=1.0)
    keys, clock = pool(A, B, c)
    keys.cool_down(B, 60.0, 401, REFUSED)
    clock.now += 1
    keys.cool_down(A, 60.0, 403, REFUSED)
    clock.now += 1
    keys.cool_down(c, 60.0, 404, MODEL_REFUSED, model="m")
    assert [keys.oldest_refused("m", exclude=done).name for done in ([], ["b"], ["b", "a"])] == ["b", "a", "c"]
    assert keys.oldest_refused("m", exclude=["a", "b", "c"]) is None
    # refused again: now the newest refusal, so the others come first
    keys.cool_down(B, 60.0, 401, REFUSED)
    assert keys.oldest_refused("m").name == "a"


def test_a_key_that_answers_again_stops_cooling_unless_refused_after_its_attempt_was_sent():
    keys, clock = pool(A, B)
    keys.cool_down(A, 60.0, 401, REFUSED)
    keys.cool_down(A, 60.0, 404, MODEL_REFUSED, model="m")
    keys.cool_down(B, 30.0, 429, RATE_LIMITED)
    clock.now += 1
    sent = keys.now()
    keys.served(A, "m", sent)
    keys.served(B, "m", sent)  # a rate limit runs out on its own
    assert keys.cooling() == ["b"]
    keys.cool_down(A, 60.0, 401, REFUSED)  # refused by another request while this attempt ran
    keys.served(A, "m", sent - 0.5)
    assert sorted(keys.cooling()) == ["a", "b"]


def test_model_cooldowns_are_bounded_because_clients_name_the_models():
    keys, clock = pool(A)
    for i in range(MAX_MODEL_COOLDOWNS + 10):
        keys.cool_down(A, 60.0, 404, MODEL_REFUSED, model=f"made-up-{i}")
    assert len(keys.cooldowns()) == MAX_MODEL_COOLDOWNS
    keys.cool_down(A, 60.0, 401, REFUSED)  # a cooldown of the whole key is always kept
    assert len(keys.cooldowns()) == MAX_MODEL_COOLDOWNS + 1
    clock.now += 61
    keys.cool_down(A, 60.0, 404, MODEL_REFUSED, model="real")  # expired ones make room
    assert [model for _, _, model, _ in keys.cooldowns()] == ["real"]


def test_soonest_ready_is_zero_when_a_key_is_ready_and_none_when_all_are_excluded():
    keys, _ = pool(A, B)
    keys.cool_down(A, 3.0, 429, RATE_LIMITED)
    assert keys.soonest_ready("m") == 0.0
    assert keys.soonest_ready("m", exclude=["a", "b"]) is None


def test_expired_cooldowns_are_forgotten_so_the_fast_path_returns():
    keys, clock = pool(A, B)
    keys.cool_down(A, 1.0, 429, RATE_LIMITED)
    keys.cool_down(B, 1.0, 404, MODEL_REFUSED, model="m")
    clock.now += 1.5
    keys.choose("m")
    assert keys._cooling == {} and not keys.any_cooling


def test_single_key_without_cooldown_is_returned_without_a_draw():
    class NoDraws(random.Random):
        def choices(self, *args, **kwargs):
            raise AssertionError("no random draw for a single key")

    keys = KeyPool(provider(A), rng=NoDraws())
    assert keys.choose("m") is A


def test_the_eligibility_cache_is_bounded_in_entries_and_name_length():
    keys, _ = pool(A)
    for i in range(MAX_CACHED_MODELS + 50):
        assert keys.choose(f"model-{i}") is A
    assert len(keys._eligible) == MAX_CACHED_MODELS
    keys2, _ = pool(A)
    long_name = "x" * (MAX_CACHED_MODEL_LENGTH + 1)
    assert keys2.choose(long_name) is A
    assert long_name not in keys2._eligible
