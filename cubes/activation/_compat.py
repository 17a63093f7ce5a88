"""The few places where transformers 5.x releases differ, kept in one file.

5.17 (the device image) calls the cache argument `past_key_values`; later 5.x releases call
it `cache` and only warn on the old name. Layers are reached through `Cache.layers` in both.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

_PARAMS: dict[type, frozenset[str]] = {}


def _forward_params(cls: type[torch.nn.Module]) -> frozenset[str]:
    params = _PARAMS.get(cls)
    if params is None:
        params = _PARAMS[cls] = frozenset(inspect.signature(cls.forward).parameters)
    return params


def cache_kwarg(model: torch.nn.Module) -> str:
    """The name of the forward argument that takes a Cache object for this model class."""
    params = _forward_params(type(model))
    return "cache" if "cache" in params else "past_key_values"


def forward_kwargs(model: torch.nn.Module, cache: Any, **kwargs: Any) -> dict[str, Any]:
    """Keyword arguments for model(...): the cache under its name, logits for the last token only
    (a 32k-token prefill would otherwise materialise 32k x vocab logits)."""
    out: dict[str, Any] = {cache_kwarg(model): cache, "use_cache": True, **kwargs}
    if "logits_to_keep" in _forward_params(type(model)) and "logits_to_keep" not in kwargs:
        out["logits_to_keep"] = 1
    return out


def output_cache(outputs: Any) -> Any:
    """The cache an output carries (`past_key_values` is a property on newer releases)."""
    cache = getattr(outputs, "cache", None)
    if cache is None:
        cache = getattr(outputs, "past_key_values", None)
    return cache
