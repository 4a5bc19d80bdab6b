"""The Redis store: key definitions, revocations and counters shared by every gateway instance.

- Keys: one hash (name -> the record's JSON) and a version counter bumped in the same MULTI, so the core's
  poll of ``keys_version`` (one GET) notices any instance's change.
- ``admit``: one round trip, a Lua script (EVALSHA) that checks every window and counts the request
  atomically, so N instances together admit exactly the limit. Counters are plain keys that expire when
  their window ends (plus a minute's grace for clocks that disagree).
- ``charge``: buffered per counter and written with one pipeline every ``flush_interval`` (0.5 s) and at
  ``close``. Until then this instance adds its own unwritten charges to what it reads, so its next request
  already sees them; other instances see them within the interval.
- Recent requests: a capped list, newest first (one LPUSH + LTRIM per flush).

A Redis that cannot be reached fails fast (short socket timeouts, one immediate retry on a fresh
connection, and a hard cap on each call) with ``StoreUnavailable``; the next call reconnects by itself.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any
from urllib.parse import quote, urlsplit

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from bifrost_proxy.governance.store.base import Admission, StoreUnavailable, VirtualKeyRecord, Window
from bifrost_proxy.governance.store.codec import record_from_json, record_to_json
from bifrost_proxy.governance.store.memory import MAX_RECENT_ROWS

FLUSH_INTERVAL = 0.5
CALL_TIMEOUT = 1.0  # the longest a request waits on Redis before it is answered 503
CONNECT_TIMEOUT = 0.5
EXPIRY_GRACE = 60
log = logging.getLogger("bifrost_proxy.governance.store")

# KEYS: one counter per window. ARGV[1], four words per window: metric, limit, expire-at, this instance's
# unwritten charges (one string, not 4N arguments: packing and encoding arguments is most of the client's
# CPU per call). Returns {index of the first full window or -1, each window's counter as a string}.
ADMIT = """
local spec = {}
for word in string.gmatch(ARGV[1], '%S+') do spec[#spec + 1] = word end
local refused = -1
local used = {}
for i = 1, #KEYS do
  local at = (i - 1) * 4
  local value = tonumber(redis.call('GET', KEYS[i]) or '0') + tonumber(spec[at + 4])
  used[i] = value
  if refused < 0 then
    local limit = tonumber(spec[at + 2])
    if spec[at + 1] == 'requests' then
      if value + 1 > limit then refused = i - 1 end
    elseif value >= limit then
      refused = i - 1
    end
  end
end
if refused < 0 then
  for i = 1, #KEYS do
    local at = (i - 1) * 4
    if spec[at + 1] == 'requests' then
      used[i] = redis.call('INCR', KEYS[i]) + tonumber(spec[at + 4])
      redis.call('EXPIREAT', KEYS[i], spec[at + 3])
    end
  end
end
local reply = {refused}
for i = 1, #KEYS do reply[i + 1] = tostring(used[i]) end
return reply
"""


def redacted_url(url: str) -> str:
    """``host:port/db`` of a Redis URL: what error messages and logs may show (never its password)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix:{parts.path}"
    try:
        port = parts.port or 6379
    except ValueError:  # not a number: say so without echoing the rest of the URL
        port = "(bad port)"
    return f"{parts.hostname or 'localhost'}:{port}{parts.path or '/0'}"


class RedisStore:
    def __init__(self, url: str, *, prefix: str = "bifrost:gov:", flush_interval: float = FLUSH_INTERVAL,
                 timeout: float = CALL_TIMEOUT, max_recent: int = MAX_RECENT_ROWS) -> None:
        self.url = url
        self.where = redacted_url(url)
        self.prefix = prefix
        self.flush_interval = flush_interval
        self.timeout = timeout
        self.max_recent = max_recent
        self._keys = prefix + "keys"
        self._version = prefix + "keys_version"
        self._requests = prefix + "requests"
        self._client: aioredis.Redis | None = None
        self._admit: Any = None
        self._names: dict[str, str] = {}  # key name -> its counter-key prefix (quoting once per name)
        # counter key -> [amount not yet written, expire-at, metric]
        self._pending: dict[str, list[Any]] = {}
        self._rows: deque[dict[str, Any]] = deque(maxlen=max_recent)
        self._stop = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Connect lazily: a Redis that is down at start-up makes requests fail closed (503) until it is up."""
        try:
            self._client = aioredis.Redis.from_url(
                self.url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=self.timeout,
                retry=Retry(NoBackoff(), 1))  # one immediate retry, on a fresh connection: survives a restart
        except ValueError:  # its message may quote the URL, password included
            raise StoreUnavailable(f"{self.where} is not a Redis URL redis-py accepts: write "
                                   "redis://[:PASSWORD@]HOST:PORT/DB") from None
        self._admit = self._client.register_script(ADMIT)
        self._stop.clear()
        self._flusher = asyncio.create_task(self._flush_every_interval(), name="governance-redis-flush")

    async def close(self) -> None:
        if self._client is None:
            return
        self._stop.set()
        if self._flusher is not None:
            await self._flusher
            self._flusher = None
        try:
            await self.flush()
        except StoreUnavailable as exc:
            log.warning("governance store %s: usage of the last %.1f s not saved: %s",
                        self.where, self.flush_interval, exc.__cause__ or exc)
        await self._client.aclose()
        self._client = None

    # --- keys ---
    async def load_keys(self) -> list[VirtualKeyRecord]:
        fields = await self._call(self._redis.hvals(self._keys))
        return sorted((record_from_json(raw) for raw in fields), key=lambda k: k.name)

    async def keys_version(self) -> int:
        return int(await self._call(self._redis.get(self._version)) or 0)

    async def put_key(self, record: VirtualKeyRecord) -> None:
        async with self._redis.pipeline(transaction=True) as multi:
            multi.hset(self._keys, record.name, record_to_json(record)).incr(self._version)
            await self._call(multi.execute())

    async def delete_key(self, name: str) -> bool:
        async with self._redis.pipeline(transaction=True) as multi:
            multi.hdel(self._keys, name).incr(self._version)
            removed, _ = await self._call(multi.execute())
        counters = self._name_prefix(name)
        for key in [k for k in self._pending if k.startswith(counters)]:
            del self._pending[key]
        await self._call(self._delete_matching(counters + "*"))
        return bool(removed)

    # --- the hot path ---
    async def admit(self, name: str, windows: list[Window]) -> Admission:
        if not windows:
            return Admission(())
        keys = [self._counter(name, w) for w in windows]
        spec = []
        for key, w in zip(keys, windows):
            pending = self._pending.get(key)
            spec.append(f"{w.metric} {w.limit!r} {w.end + EXPIRY_GRACE} {pending[0] if pending else 0!r}")
        reply = await self._call(self._admit(keys=keys, args=[" ".join(spec)]))
        refused = int(reply[0])
        return Admission(tuple(float(v) for v in reply[1:]), None if refused < 0 else refused)

    def charge(self, name: str, windows: list[Window], tokens: int, cost: float) -> None:
        for window in windows:
            amount = tokens if window.metric == "tokens" else cost if window.metric == "cost" else 0
            if not amount:
                continue
            key = self._counter(name, window)
            entry = self._pending.get(key)
            if entry is None:
                self._pending[key] = [amount, window.end + EXPIRY_GRACE, window.metric]
            else:
                entry[0] += amount

    # --- reporting ---
    async def usage(self, name: str, windows: list[Window]) -> tuple[float, ...]:
        if not windows:
            return ()
        keys = [self._counter(name, w) for w in windows]
        values = await self._call(self._redis.mget(keys))
        return tuple(float(v or 0) + (self._pending[k][0] if k in self._pending else 0)
                     for k, v in zip(keys, values))

    def record_requests(self, rows: list[dict[str, Any]]) -> None:
        self._rows.extend(rows)

    async def recent_requests(self, limit: int) -> list[dict[str, Any]]:
        if limit <= 0:
            return []
        newest = list(self._rows)[-limit:]
        newest.reverse()  # not yet written, and newer than anything in Redis
        if len(newest) < limit:
            written = await self._call(self._redis.lrange(self._requests, 0, limit - len(newest) - 1))
            newest += [orjson.loads(row) for row in written]
        return newest

    async def flush(self) -> None:
        """Write the buffered charges and rows in one pipeline; on failure keep them for the next try."""
        if self._client is None or not (self._pending or self._rows):
            return
        pending, self._pending = self._pending, {}
        rows = list(self._rows)
        self._rows.clear()
        pipe = self._client.pipeline(transaction=True)  # all or nothing: a failed flush is retried whole
        for key, (amount, expire_at, metric) in pending.items():
            if metric == "cost":
                pipe.incrbyfloat(key, amount)
            else:
                pipe.incrby(key, int(amount))
            pipe.expireat(key, expire_at)
        if rows:  # one LPUSH for them all: an XADD per row cost ~20 µs of client CPU per request
            pipe.lpush(self._requests, *(orjson.dumps(row, default=str) for row in rows))
            pipe.ltrim(self._requests, 0, self.max_recent - 1)
        try:
            await self._call(pipe.execute())
        except StoreUnavailable:
            for key, entry in pending.items():  # merge back under what was charged meanwhile
                current = self._pending.setdefault(key, [0, entry[1], entry[2]])
                current[0] += entry[0]
            self._rows.extendleft(reversed(rows))
            raise
        finally:
            await pipe.reset()

    async def _flush_every_interval(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), self.flush_interval)
            except TimeoutError:
                pass
            if self._stop.is_set():
                return
            try:
                await self.flush()
            except StoreUnavailable as exc:
                log.warning("governance store %s: could not save usage, retrying: %s",
                            self.where, exc.__cause__ or exc)

    # --- plumbing ---
    @property
    def _redis(self) -> aioredis.Redis:
        if self._client is None:
            raise RuntimeError("the Redis governance store is not open")
        return self._client

    async def _call(self, awaitable: Any) -> Any:
        """Await one Redis call within ``timeout``; every failure to get an answer is ``StoreUnavailable``."""
        try:
            async with asyncio.timeout(self.timeout):
                return await awaitable
        except (RedisError, OSError, TimeoutError) as exc:
            reason = "no answer in time" if isinstance(exc, TimeoutError) else type(exc).__name__
            raise StoreUnavailable(f"the Redis governance store at {self.where} is unavailable ({reason})") from exc

    async def _delete_matching(self, pattern: str) -> None:
        # SCAN only here, on a revocation, never on the request path
        stale = [key async for key in self._redis.scan_iter(match=pattern, count=500)]
        if stale:
            await self._redis.delete(*stale)

    def _name_prefix(self, name: str) -> str:
        prefix = self._names.get(name)
        if prefix is None:
            # quoted: no ":" or glob character of a name can make one key's counters match another's pattern;
            # the braces are a cluster hash tag, so a key's counters share a slot and one script touches them all
            prefix = self._names[name] = f"{self.prefix}c:{{{quote(name, safe='-_.~@+')}}}:"
        return prefix

    def _counter(self, name: str, window: Window) -> str:
        return f"{self._name_prefix(name)}{window.metric}:{window.start}"
