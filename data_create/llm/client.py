"""One client for any OpenAI-compatible endpoint: bounded concurrency, retries, budget, cache.

An LLM endpoint is unreliable in the boring ways too: 429s, 5xx, hung connections,
dropped sockets.  ``LLMClient`` turns every call into either a ``ChatResult`` or an
``LLMFailure`` (a value, never an exception) and counts everything it did, so the
pipeline can report each fault and never pays twice for the same answer::

    client = LLMClient(settings_from(env=os.environ, model="qwen2.5-coder"))
    results = client.run_many([ChatRequest(messages, purpose="generate"), ...])
    client.accounting()   # {"requests": 12, "cache_hits": 3, "retries": 2, ...}
    client.close()

The SDK's own retries are off (``max_retries=0``): retries happen here, so they can be
counted, classified and bounded by the request budget.  The ``openai`` package is
imported lazily, on the first request; ``import data_create`` never needs it.

The api key lives only in ``LLMSettings.api_key`` (hidden from ``repr``) and in the SDK
client; failure messages and logs are scrubbed of it.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import logging
import math
import os
import random
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from data_create import rundir
from data_create.errors import ConfigError
from data_create.hygiene import storable_text
from data_create.repeats import RepeatedWarnings

log = logging.getLogger(__name__)

__all__ = [
    "ChatRequest",
    "ChatResult",
    "LLMClient",
    "LLMFailure",
    "LLMSettings",
    "cache_key",
    "retry_after_seconds",
    "settings_from",
]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
INSTALL_HINT = "pip install 'nl2sql-factory[llm]'"

FailureKind = Literal[
    "timeout", "rate_limit", "server", "connection", "auth", "bad_request", "budget", "empty"
]
RETRYABLE: frozenset[str] = frozenset({"timeout", "rate_limit", "server", "connection"})

Messages = Sequence[Mapping[str, Any]]


# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class LLMSettings:
    """Where the endpoint is and how hard to push it.

    ``prices`` is ``{"input": $ per 1M tokens, "output": $ per 1M tokens}``; ``cache_dir``
    turns on the on-disk answer cache.  ``api_key`` never appears in ``repr``:

    >>> LLMSettings(model="m", base_url="http://127.0.0.1:8000/v1", api_key="sk-secret")  # doctest: +ELLIPSIS
    LLMSettings(model='m', base_url='http://127.0.0.1:8000/v1', timeout_s=60.0, ...)
    """

    model: str
    base_url: str = DEFAULT_BASE_URL
    api_key: str = field(default="", repr=False)
    timeout_s: float = 60.0
    max_retries: int = 4
    backoff_base_s: float = 0.5
    backoff_max_s: float = 20.0
    concurrency: int = 8
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 2048
    max_requests: int | None = None
    max_total_tokens: int | None = None
    prices: Mapping[str, float] | None = None
    cache_dir: Path | None = None

    def __post_init__(self) -> None:
        def coerce(name: str, kind: type, minimum: float, *, strict: bool = False) -> None:
            value = getattr(self, name)
            try:
                value = kind(value)
            except (TypeError, ValueError):
                raise ConfigError(f"LLM setting {name}={value!r} is not a number") from None
            if value < minimum or (strict and value == minimum):
                bound = f"> {minimum}" if strict else f">= {minimum}"
                raise ConfigError(f"LLM setting {name}={value!r} must be {bound}")
            object.__setattr__(self, name, value)

        if not self.model or not str(self.model).strip():
            raise ConfigError("no LLM model given", hint="pass --model NAME or set OPENAI_MODEL")
        if not str(self.base_url).startswith(("http://", "https://")):
            raise ConfigError(
                f"LLM base URL {_mask_url(str(self.base_url))!r} is not an http(s) URL",
                hint="e.g. http://127.0.0.1:8000/v1 (vLLM) or https://api.deepseek.com/v1",
            )
        object.__setattr__(self, "base_url", str(self.base_url).rstrip("/"))
        coerce("timeout_s", float, 0, strict=True)
        coerce("max_retries", int, 0)
        coerce("backoff_base_s", float, 0)
        coerce("backoff_max_s", float, 0)
        coerce("concurrency", int, 1)
        coerce("temperature", float, 0)
        coerce("top_p", float, 0, strict=True)
        coerce("max_tokens", int, 1)
        if self.max_requests is not None:
            coerce("max_requests", int, 0)
        if self.max_total_tokens is not None:
            coerce("max_total_tokens", int, 0)
        if self.prices is not None:
            unknown = set(self.prices) - {"input", "output"}
            if unknown:
                raise ConfigError(
                    f"LLM prices has unknown keys {sorted(unknown)}",
                    hint='use {"input": $/1M tokens, "output": $/1M tokens}',
                )
            object.__setattr__(
                self, "prices", {k: float(v) for k, v in self.prices.items() if v is not None}
            )
        if self.cache_dir is not None:
            object.__setattr__(self, "cache_dir", Path(self.cache_dir))

    def public(self) -> dict[str, Any]:
        """The settings as a dict for reports: no api key, credentials masked in the URL."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "api_key"}
        out["base_url"] = _mask_url(self.base_url)
        out["cache_dir"] = None if self.cache_dir is None else str(self.cache_dir)
        return out


_FIELDS = frozenset(f.name for f in fields(LLMSettings))
_ENV = {"base_url": "OPENAI_BASE_URL", "api_key": "OPENAI_API_KEY", "model": "OPENAI_MODEL"}


def settings_from(
    args: Any = None, *, env: Mapping[str, str] | None = None, **overrides: Any
) -> LLMSettings:
    """Settings from environment defaults, then ``args``, then keyword overrides.

    ``env`` (default ``os.environ``) supplies OPENAI_BASE_URL, OPENAI_API_KEY and
    OPENAI_MODEL.  ``args`` is either a mapping with the field names (a config file's
    ``llm:`` section) or an ``argparse.Namespace`` whose ``llm_*`` attributes name
    fields (``--llm-model`` -> ``llm_model``); other attributes are ignored so a CLI's
    own ``--concurrency`` cannot leak in.  ``None`` values never override.

    >>> s = settings_from({"model": "m", "concurrency": "4"}, env={"OPENAI_BASE_URL": "http://h/v1"})
    >>> (s.model, s.base_url, s.concurrency)
    ('m', 'http://h/v1', 4)
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {k: env[v] for k, v in _ENV.items() if env.get(v)}
    if isinstance(args, Mapping):
        source = {k: v for k, v in args.items() if k in _FIELDS}
    elif args is not None:
        source = {
            k.removeprefix("llm_"): v
            for k, v in vars(args).items()
            if k.startswith("llm_") and k.removeprefix("llm_") in _FIELDS
        }
    else:
        source = {}
    unknown = set(overrides) - _FIELDS
    if unknown:
        raise ConfigError(f"unknown LLM settings {sorted(unknown)}")
    for layer in (source, overrides):
        values.update({k: v for k, v in layer.items() if v is not None})
    if not values.get("model"):
        raise ConfigError("no LLM model given", hint="pass --model NAME or set OPENAI_MODEL")
    return LLMSettings(**values)


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class ChatRequest:
    """One call for ``run_many``; ``None`` parameters take the settings' defaults."""

    messages: Messages
    purpose: str = "chat"
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None


@dataclass(frozen=True)
class ChatResult:
    text: str
    tokens_in: int
    tokens_out: int
    cached: bool
    elapsed_s: float
    finish_reason: str | None = None  # "length" means the answer was cut off

    ok = True


@dataclass(frozen=True)
class LLMFailure:
    """A call that produced no answer.  ``attempts`` counts HTTP requests sent (0 for
    a budget refusal); ``message`` is safe to log (no api key)."""

    kind: FailureKind
    message: str
    attempts: int = 0

    ok = False

    def __str__(self) -> str:
        return f"{self.kind}: {self.message} (after {self.attempts} attempt(s))"


# ---------------------------------------------------------------- pieces


def cache_key(
    model: str, messages: Messages, temperature: float, top_p: float, max_tokens: int
) -> str:
    """sha256 of the canonical JSON of everything that shapes the answer, but not of
    where it is sent: the same model behind another URL answers from the same cache.

    >>> a = cache_key("m", [{"role": "user", "content": "hi"}], 0.7, 0.95, 100)
    >>> a == cache_key("m", [{"content": "hi", "role": "user"}], 0.7, 0.95, 100)
    True
    >>> a == cache_key("m", [{"role": "user", "content": "hi"}], 0.0, 0.95, 100)
    False
    """
    canonical = json.dumps(
        {
            "model": model,
            "messages": [dict(m) for m in messages],
            "temperature": float(temperature),
            "top_p": float(top_p),
            "max_tokens": int(max_tokens),
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    # surrogatepass: a lone surrogate (a model's reply quoted in a repair prompt) still
    # hashes, the same way every time.
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def retry_after_seconds(
    headers: Mapping[str, str] | None, now: float | None = None
) -> float | None:
    """The server's requested wait from ``retry-after-ms`` or ``Retry-After`` (seconds or
    an HTTP date), or None.

    >>> retry_after_seconds({"retry-after": "1.5"})
    1.5
    >>> retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480.0)
    10.0
    >>> retry_after_seconds({"retry-after": "soon"}) is None
    True
    """
    if not headers:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    if "retry-after-ms" in lower:
        try:
            return max(0.0, float(lower["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    value = lower.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds) if math.isfinite(seconds) else None


_SECRETISH = re.compile(r"(?i)(bearer\s+|sk-)[A-Za-z0-9._\-*]{4,}")
_URL_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def _mask_url(url: str) -> str:
    return _URL_USERINFO.sub("***@", url)


def _scrub(text: str, api_key: str) -> str:
    """Remove the api key (and anything that looks like a key) from server/SDK text;
    some providers echo part of a wrong key back in their 401 message."""
    if api_key and len(api_key) >= 4:
        text = text.replace(api_key, "***")
    text = _SECRETISH.sub(lambda m: m.group(1) + "***", text)
    text = _mask_url(text)
    return " ".join(text.split())[:500]


class _DiskCache:
    """One JSON file per answer, ``<dir>/ab/abcdef....json``, written atomically."""

    def __init__(self, directory: Path):
        self.directory = directory

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        path = self._path(key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, UnicodeDecodeError):
            log.warning("ignoring unreadable LLM cache entry %s", path)
            return None
        if (
            not isinstance(entry, dict)
            or entry.get("key") != key
            or not isinstance(entry.get("text"), str)
            or not isinstance(entry.get("tokens_in"), int)
            or not isinstance(entry.get("tokens_out"), int)
        ):
            log.warning("ignoring malformed LLM cache entry %s", path)
            return None
        return entry

    def put(self, key: str, entry: dict[str, Any]) -> None:
        path = self._path(key)
        # backslashreplace: a lone surrogate in a reply is stored as its \\udXXX
        # escape, which json reads back as the same reply (so --resume replays it).
        with rundir.atomic_open(path, errors="backslashreplace") as fh:
            json.dump({"key": key, **entry}, fh, ensure_ascii=False)


def _estimate_tokens(text: str) -> int:
    from data_create.cards import estimate_tokens

    return estimate_tokens(text)


def _import_openai() -> Any:
    try:
        import openai
    except ImportError:
        raise ConfigError("the LLM backend needs the 'openai' package", hint=INSTALL_HINT) from None
    return openai


# ---------------------------------------------------------------- accounting


def _counters() -> dict[str, Any]:
    return {
        "requests": 0,
        "cache_hits": 0,
        "tokens_in": 0,
        "tokens_out": 0,
        "retries": 0,
        "failures": 0,
    }


class _Accounting:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = _counters()
        self.by_purpose: dict[str, dict[str, Any]] = {}
        self.failures_by_kind: dict[str, int] = {}
        self.errors_by_kind: dict[str, int] = {}

    def add(self, purpose: str, **amounts: int) -> None:
        with self._lock:
            mine = self.by_purpose.setdefault(purpose, _counters())
            for name, amount in amounts.items():
                self.total[name] += amount
                mine[name] += amount

    def fail(self, purpose: str, kind: str) -> None:
        self.add(purpose, failures=1)
        with self._lock:
            self.failures_by_kind[kind] = self.failures_by_kind.get(kind, 0) + 1

    def error(self, kind: str) -> None:
        with self._lock:
            self.errors_by_kind[kind] = self.errors_by_kind.get(kind, 0) + 1


def _cost(counts: Mapping[str, int], prices: Mapping[str, float] | None) -> float | None:
    if prices is None:
        return None
    return round(
        counts["tokens_in"] * prices.get("input", 0.0) / 1e6
        + counts["tokens_out"] * prices.get("output", 0.0) / 1e6,
        6,
    )


# ---------------------------------------------------------------- client


class _Attempt(Exception):
    """One failed HTTP attempt, classified."""

    def __init__(self, kind: str, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after = retry_after


class LLMClient:
    """Chat completions against ``settings.base_url``; see the module docstring.

    ``rng`` seeds the backoff jitter (tests pass ``random.Random(0)``).
    """

    def __init__(self, settings: LLMSettings, *, rng: random.Random | None = None):
        self.settings = settings
        self._rng = rng or random.Random()
        self._cache = _DiskCache(settings.cache_dir) if settings.cache_dir else None
        self._acct = _Accounting()
        self._budget_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None  # run_many's private loop
        self._sdk: Any = None
        self._sdk_loop: asyncio.AbstractEventLoop | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._pending: dict[str, asyncio.Future[ChatResult | LLMFailure]] = {}
        # A down or overloaded endpoint fails many requests the same way: one line each.
        self._warnings = RepeatedWarnings(log)

    def __repr__(self) -> str:
        return f"LLMClient(model={self.settings.model!r}, base_url={_mask_url(self.settings.base_url)!r})"

    # -- the SDK client, one per event loop (its connection pool belongs to the loop)

    def _sdk_for_loop(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._sdk is None or self._sdk_loop is not loop:
            openai = _import_openai()
            import httpx2  # the SDK's HTTP layer, installed with it

            s = self.settings
            # One connection per concurrent request plus headroom: a connection is
            # returned to the pool a moment after the semaphore lets the next task in,
            # and a pool wait would count against the request's timeout.
            http = openai.DefaultAsyncHttpxClient(
                limits=httpx2.Limits(
                    max_connections=s.concurrency * 2,
                    max_keepalive_connections=s.concurrency,
                ),
                timeout=httpx2.Timeout(s.timeout_s, connect=min(s.timeout_s, 10.0)),
            )
            self._sdk = openai.AsyncOpenAI(
                base_url=s.base_url,
                api_key=s.api_key or "EMPTY",  # local servers (vLLM, Ollama) take any key
                max_retries=0,
                timeout=s.timeout_s,
                http_client=http,
            )
            self._sdk_loop = loop
            self._semaphore = asyncio.Semaphore(s.concurrency)
            self._pending = {}
        return self._sdk

    # -- public API

    async def chat(
        self,
        messages: Messages,
        *,
        purpose: str = "chat",
        temperature: float | None = None,
        top_p: float | None = None,
        max_tokens: int | None = None,
    ) -> ChatResult | LLMFailure:
        """One chat completion: from the cache, or sent with retries.  Never raises for
        endpoint trouble; check ``result.ok``."""
        s = self.settings
        # A prompt may quote a reply holding a lone surrogate or NUL, which no JSON
        # request body can carry as UTF-8: send U+FFFD in its place.
        msgs = [
            {k: storable_text(v) if isinstance(v, str) else v for k, v in m.items()}
            for m in messages
        ]
        params = {
            "temperature": s.temperature if temperature is None else float(temperature),
            "top_p": s.top_p if top_p is None else float(top_p),
            "max_tokens": s.max_tokens if max_tokens is None else int(max_tokens),
        }
        sdk = self._sdk_for_loop()
        if self._cache is None:
            return await self._send(sdk, msgs, params, purpose)

        started = time.monotonic()
        key = cache_key(s.model, msgs, **params)
        entry = self._cache.get(key)
        if entry is not None:
            self._acct.add(purpose, cache_hits=1)
            return ChatResult(
                text=entry["text"],
                tokens_in=entry["tokens_in"],
                tokens_out=entry["tokens_out"],
                cached=True,
                elapsed_s=time.monotonic() - started,
                finish_reason=entry.get("finish_reason"),
            )
        # Identical requests in flight together share one answer, so a re-run served
        # from the cache sees exactly what this run saw.
        pending = self._pending.get(key)
        if pending is not None:
            result = await asyncio.shield(pending)
            if isinstance(result, ChatResult):
                self._acct.add(purpose, cache_hits=1)
                return replace(result, cached=True, elapsed_s=time.monotonic() - started)
            return result
        future: asyncio.Future[ChatResult | LLMFailure] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            result = await self._send(sdk, msgs, params, purpose)
            if isinstance(result, ChatResult):
                self._cache.put(
                    key,
                    {
                        "model": s.model,
                        "text": result.text,
                        "tokens_in": result.tokens_in,
                        "tokens_out": result.tokens_out,
                        "finish_reason": result.finish_reason,
                    },
                )
            future.set_result(result)
            return result
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # consumed here; waiters re-raise it
            raise
        finally:
            self._pending.pop(key, None)

    def run_many(self, requests: Sequence[ChatRequest]) -> list[ChatResult | LLMFailure]:
        """All ``requests`` at most ``settings.concurrency`` at a time; results in input
        order.  Synchronous: call it from plain code, not from inside an event loop."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError("LLMClient.run_many is synchronous; in async code await chat()")
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
        try:
            return self._loop.run_until_complete(self._gather(requests))
        finally:
            self._warnings.flush()

    async def _gather(self, requests: Sequence[ChatRequest]) -> list[ChatResult | LLMFailure]:
        return list(
            await asyncio.gather(
                *(
                    self.chat(
                        r.messages,
                        purpose=r.purpose,
                        temperature=r.temperature,
                        top_p=r.top_p,
                        max_tokens=r.max_tokens,
                    )
                    for r in requests
                )
            )
        )

    def preflight(self, timeout_s: float = 10.0) -> list[str]:
        """Ask the endpoint for its models once (``GET /models``), without retries.

        A server that is down, or that refuses the key, then ends the command in one
        line at once instead of after every request's retries.  An endpoint without
        a ``/models`` route, or one that answers it with a server error, is left to
        the requests themselves.  Returns the model ids it lists (may be empty).
        """
        from data_create.errors import LLMUnavailable

        openai = _import_openai()
        s = self.settings
        where = _mask_url(s.base_url)
        sdk = openai.OpenAI(
            base_url=s.base_url,
            api_key=s.api_key or "EMPTY",
            max_retries=0,
            timeout=min(s.timeout_s, timeout_s),
        )
        try:
            page = sdk.models.list()
            return [m.id for m in getattr(page, "data", None) or []]
        except (openai.APIConnectionError, openai.APITimeoutError) as exc:
            what = "timed out" if isinstance(exc, openai.APITimeoutError) else "connection failed"
            raise LLMUnavailable(
                f"cannot reach the model endpoint {where}: no server answers ({what})"
            ) from None
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise LLMUnavailable(
                f"the LLM endpoint {where} refused the API key (HTTP {exc.status_code})",
                "set OPENAI_API_KEY (or the variable api_key_env names) to a valid key",
            ) from None
        except openai.APIError:
            return []
        finally:
            sdk.close()

    def accounting(self) -> dict[str, Any]:
        """What was spent: requests sent (every retry counts), cache hits, tokens, retries,
        failures by kind, errors by kind (every failed attempt, retried or not), cost in
        $ (None without prices), and the same per purpose."""
        a = self._acct
        prices = self.settings.prices
        with a._lock:
            total = dict(a.total)
            by_purpose = {
                p: {**c, "cost": _cost(c, prices)} for p, c in sorted(a.by_purpose.items())
            }
            failures = dict(sorted(a.failures_by_kind.items()))
            errors = dict(sorted(a.errors_by_kind.items()))
        return {
            **total,
            "failures_by_kind": failures,
            "errors_by_kind": errors,
            "cost": _cost(total, prices),
            "by_purpose": by_purpose,
        }

    def close(self) -> None:
        """Close connections and the private event loop.  Safe to call twice."""
        self._warnings.flush()
        loop = self._loop
        # An SDK client bound to a caller's own loop is closed by aclose(), not here.
        own = self._sdk is not None and loop is not None and self._sdk_loop is loop
        if own and not loop.is_closed():
            loop.run_until_complete(self._sdk.close())
        self._sdk = self._sdk_loop = self._semaphore = None
        if self._loop is not None and not self._loop.is_closed():
            self._loop.close()
        self._loop = None

    async def aclose(self) -> None:
        """``close`` for a client used with ``await chat()`` on the caller's own loop."""
        self._warnings.flush()
        if self._sdk is not None and self._sdk_loop is asyncio.get_running_loop():
            await self._sdk.close()
            self._sdk = self._sdk_loop = self._semaphore = None

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sending

    def _reserve(self, purpose: str) -> str | None:
        """Count one request against the budget before it is sent; a reason if refused."""
        s = self.settings
        with self._budget_lock:
            total = self._acct.total
            if s.max_requests is not None and total["requests"] >= s.max_requests:
                return f"request budget of {s.max_requests} spent"
            used = total["tokens_in"] + total["tokens_out"]
            if s.max_total_tokens is not None and used >= s.max_total_tokens:
                return f"token budget of {s.max_total_tokens} spent ({used} used)"
            self._acct.add(purpose, requests=1)
        return None

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        s = self.settings
        if retry_after is not None:
            return min(retry_after, s.backoff_max_s)
        # Full jitter: spreads synchronized clients apart (AWS architecture blog).
        return self._rng.uniform(0, min(s.backoff_max_s, s.backoff_base_s * 2 ** (attempt - 1)))

    async def _send(
        self, sdk: Any, msgs: list[dict[str, Any]], params: dict[str, Any], purpose: str
    ) -> ChatResult | LLMFailure:
        s = self.settings
        assert self._semaphore is not None
        attempts = 0
        while True:
            async with self._semaphore:
                refused = self._reserve(purpose)
                if refused is not None:
                    self._acct.fail(purpose, "budget")
                    return LLMFailure("budget", refused, attempts)
                attempts += 1
                started = time.monotonic()
                try:
                    result = await self._attempt(sdk, msgs, params, purpose, started)
                except _Attempt as failed:
                    outcome: ChatResult | _Attempt = failed
                else:
                    outcome = result
            if isinstance(outcome, ChatResult):
                return outcome
            self._acct.error(outcome.kind)
            if outcome.kind not in RETRYABLE or attempts > s.max_retries:
                self._acct.fail(purpose, outcome.kind)
                self._warnings.warn(
                    "LLM %s request failed: %s: %s", purpose, outcome.kind, outcome.message
                )
                return LLMFailure(outcome.kind, outcome.message, attempts)  # type: ignore[arg-type]
            delay = self._backoff(attempts, outcome.retry_after)
            self._acct.add(purpose, retries=1)
            log.info(
                "LLM %s attempt %d/%d: %s (%s); retrying in %.2fs",
                purpose, attempts, s.max_retries + 1, outcome.kind, outcome.message, delay,
            )  # fmt: skip
            await asyncio.sleep(delay)

    async def _attempt(
        self,
        sdk: Any,
        msgs: list[dict[str, Any]],
        params: dict[str, Any],
        purpose: str,
        started: float,
    ) -> ChatResult:
        openai = _import_openai()
        s = self.settings
        try:
            # The SDK's timeout bounds each read; this one bounds the whole request,
            # so a server that trickles bytes cannot hold a slot forever.
            async with asyncio.timeout(s.timeout_s):
                response = await sdk.chat.completions.create(
                    model=s.model, messages=msgs, timeout=s.timeout_s, **params
                )
        except (TimeoutError, openai.APITimeoutError):
            raise _Attempt("timeout", f"no answer within {s.timeout_s:g}s") from None
        except openai.APIConnectionError as exc:
            raise _Attempt("connection", self._describe(exc)) from None
        except openai.APIStatusError as exc:
            raise self._classify_status(exc) from None
        except (openai.APIResponseValidationError, ValueError) as exc:
            # HTTP 200 with a body that is not a chat completion (a proxy's HTML page).
            raise _Attempt("server", f"unreadable response: {self._describe(exc)}") from None

        choices = getattr(response, "choices", None) or []
        message = getattr(choices[0], "message", None) if choices else None
        text = getattr(message, "content", None) if message is not None else None
        if not isinstance(text, str) or not text.strip():
            raise _Attempt("empty", "the model returned no text")
        usage = getattr(response, "usage", None)
        tokens_in = getattr(usage, "prompt_tokens", None)
        tokens_out = getattr(usage, "completion_tokens", None)
        if not isinstance(tokens_in, int):
            tokens_in = sum(_estimate_tokens(str(m.get("content") or "")) for m in msgs)
        if not isinstance(tokens_out, int):
            tokens_out = _estimate_tokens(text)
        self._acct.add(purpose, tokens_in=tokens_in, tokens_out=tokens_out)
        return ChatResult(
            text=text,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cached=False,
            elapsed_s=time.monotonic() - started,
            finish_reason=getattr(choices[0], "finish_reason", None),
        )

    def _describe(self, exc: BaseException) -> str:
        return _scrub(f"{type(exc).__name__}: {exc}", self.settings.api_key)

    def _classify_status(self, exc: Any) -> _Attempt:
        status = int(getattr(exc, "status_code", 0) or 0)
        response = getattr(exc, "response", None)
        headers = dict(response.headers) if response is not None else None
        message = self._describe(exc)
        if status == 429:
            return _Attempt("rate_limit", message, retry_after_seconds(headers))
        if status in (401, 403):
            return _Attempt("auth", message)
        if status == 408:
            return _Attempt("timeout", message, retry_after_seconds(headers))
        if status >= 500:
            return _Attempt("server", message, retry_after_seconds(headers))
        return _Attempt("bad_request", message)
