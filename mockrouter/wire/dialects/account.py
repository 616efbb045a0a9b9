"""Account and generation-stats bodies, in OpenRouter's shapes (AnyRouter mirrors them where
its docs are silent): ``GET /key``, the key's budgets, ``GET /generation``, providers.
Plain dicts; a dialect wraps them in its envelope.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from ...state.journal import iso_time
from ...state.keys import mask, next_reset

if TYPE_CHECKING:
    from ...state.keys import KeySpec

#: The workspace every key spends in (OpenRouter's default workspace; the mock has one).
DEFAULT_WORKSPACE_ID = "00000000-0000-4000-8000-000000000000"
#: OpenRouter's daily quota of ``:free`` model requests: 50 for an account that never bought
#: credits (a ``free_tier`` key), 1000 once it has.
FREE_MODEL_DAILY_LIMIT = 50
FREE_MODEL_DAILY_LIMIT_PAID = 1000


def key_info(key: str, spec: KeySpec | None, usage: float, free_used: int = 0) -> dict[str, Any]:
    """``GET /key`` (``/auth/key``): the calling key, OpenRouter's fields in ``{data}``;
    ``free_used``: the key's requests to ``:free`` models (the mock has no calendar day)."""
    limit = spec.credits if spec is not None else None
    rate = spec.rate_limit if spec is not None else None
    usage = round(usage, 12)
    free_tier = spec.free_tier if spec is not None else False
    free_limit = FREE_MODEL_DAILY_LIMIT if free_tier else FREE_MODEL_DAILY_LIMIT_PAID
    budgets = key_budgets(spec, usage)
    return {
        "label": spec.name if spec is not None else mask(key),
        "limit": limit,
        "limit_reset": spec.limit_reset if spec is not None else None,
        "limit_remaining": round(limit - usage, 12) if limit is not None else None,
        "include_byok_in_limit": spec.include_byok_in_limit if spec is not None else False,
        **usage_fields(usage),
        "is_free_tier": free_tier,
        "is_management_key": spec.management if spec is not None else False,
        "is_provisioning_key": spec.management if spec is not None else False,
        "creator_user_id": user_id(key),
        "expires_at": spec.expires_at if spec is not None else None,
        "rate_limit": {
            "requests": rate.requests if rate is not None else -1,
            "interval": f"{rate.window_s:g}s" if rate is not None else "1h",
            "note": "This field is deprecated and safe to ignore.",
        },
        "allowed_data_regions": ["global"],
        "free_model_daily_requests": {
            "limit": free_limit,
            "remaining": max(free_limit - free_used, 0),
            "used": free_used,
        },
        "organization_id": None,
        "workspace_id": DEFAULT_WORKSPACE_ID,
        "budgets": budgets,
        "effective_budget": effective_budget(budgets),
    }


def generation(entry: dict[str, Any]) -> dict[str, Any]:
    """``GET /generation``: stats of one generation, from its journal entry."""
    usage = entry.get("usage") or {}
    cost = usage.get("cost", 0)
    latency = entry.get("ttft_ms")
    if latency is None:
        latency = entry.get("duration_ms")
    headers = entry.get("headers") or {}
    finish = entry.get("finish_reason")
    return {
        "id": entry["generation_id"],
        "upstream_id": None,
        "total_cost": cost,
        "cache_discount": None,
        "upstream_inference_cost": cost,
        "created_at": iso_time(entry["ts"]),
        "model": entry.get("model"),
        "app_id": None,
        "streamed": bool(entry.get("stream")),
        "cancelled": bool(entry.get("client_disconnected")),
        "provider_name": entry.get("provider"),
        "latency": round(latency) if latency is not None else None,
        "moderation_latency": None,
        "generation_time": round(entry.get("duration_ms") or 0),
        "finish_reason": finish,
        "native_finish_reason": entry.get("native_finish_reason") or finish,
        "tokens_prompt": usage.get("prompt_tokens"),
        "tokens_completion": usage.get("completion_tokens"),
        "native_tokens_prompt": usage.get("prompt_tokens"),
        "native_tokens_completion": usage.get("completion_tokens"),
        "native_tokens_reasoning": usage.get("reasoning_tokens", 0),
        "native_tokens_cached": 0,
        "native_tokens_completion_images": 0,
        "num_media_prompt": None,
        "num_media_completion": None,
        "num_input_audio_prompt": None,
        "num_search_results": None,
        "num_fetches": None,
        "origin": headers.get("http-referer", ""),
        "usage": cost,
        "is_byok": False,
        "api_type": entry.get("api_type", "completions"),
        "router": None,
        "service_tier": None,
        "external_user": None,
        "http_referer": headers.get("http-referer"),
        "user_agent": headers.get("user-agent"),
        "preset_id": None,
        "web_search_engine": None,
        "workspace_id": None,
        "data_region": "global",  # the key's only allowed data region (GET /key)
        "provider_responses": [
            {
                "provider_name": entry.get("provider"),
                "status": entry.get("status"),
                "latency": round(latency) if latency is not None else None,
            }
        ],
    }


def key_budgets(spec: KeySpec | None, usage: float) -> list[dict[str, Any]]:
    """OpenRouter's budget layers of a key (``GET /key``'s ``budgets``). The mock has no
    guardrails or workspace budgets: only the key's own limit (``key_limit``), if it has one."""
    if spec is None or spec.credits is None:
        return []
    interval = spec.limit_reset if spec.limit_reset in ("daily", "weekly", "monthly") else None
    return [
        {
            "scope": "key_limit",
            "budget_id": None,
            "guardrail_id": None,
            "include_byok": spec.include_byok_in_limit,
            "limit_usd": spec.credits,
            "spend_usd": usage,
            "remaining_usd": round(spec.credits - usage, 12),
            "reset_interval": interval,
            "resets_at": next_reset(interval),
        }
    ]


def effective_budget(budgets: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The budget that blocks first: the first one already spent, else the one with the least left."""
    spent = [b for b in budgets if b["remaining_usd"] <= 0]
    if spent:
        return spent[0]
    return min(budgets, key=lambda b: b["remaining_usd"], default=None)


def usage_fields(usage: float) -> dict[str, float]:
    """OpenRouter's spend fields of a key (no periods or BYOK are modelled: all are the total)."""
    return {
        "usage": usage,
        "usage_daily": usage,
        "usage_weekly": usage,
        "usage_monthly": usage,
        "byok_usage": 0,
        "byok_usage_daily": 0,
        "byok_usage_weekly": 0,
        "byok_usage_monthly": 0,
    }


def user_id(key: str) -> str:
    """A stable user id for a key (OpenRouter's ``user_id`` / ``creator_user_id``)."""
    return "user_" + hashlib.sha256(key.encode()).hexdigest()[:27]


def provider_slug(name: str) -> str:
    """``"Google AI Studio"`` → ``google-ai-studio``."""
    return "-".join(name.lower().split())


def provider_object(name: str) -> dict[str, Any]:
    """One provider of ``GET /providers``."""
    return {
        "name": name,
        "slug": provider_slug(name),
        "privacy_policy_url": None,
        "terms_of_service_url": None,
        "status_page_url": None,
    }
