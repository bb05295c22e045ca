"""SASRec served the way softmax transformers are: a key/value cache, one new token per step.

The fair baseline for HydraRec's O(1) streaming step (``streaming.step``): the new item's
query attends to the keys and values of every earlier item, kept from earlier steps, so a
step costs O(n·d) per layer instead of recomputing the whole history (O(n²·d)), and the cache
holds 2·layers·n·d numbers per user where HydraRec keeps layers·d.

    cache = start_cache(sasrec, users, capacity=1000)
    for items in interactions:                              # (users,) each
        cache, scores = cached_step(sasrec, cache, items)   # (users, num_items + 1)

The scores equal ``score_last`` on the whole history (tested). All users of one cache have
histories of the same length (a batch of users stepping together).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor

from hydrarec_minimal.course.benchmark import time_calls
from hydrarec_minimal.course.scaling import random_histories
from hydrarec_minimal.model import SequentialRecommender
from hydrarec_minimal.streaming import advance, start_state, step


@dataclass
class KVCache:
    """Keys and values of every item seen: ``keys``, ``values`` ``(layers, users, heads,
    capacity, head_dim)``, filled up to ``seen`` (an int: every user has seen as many)."""

    keys: Tensor
    values: Tensor
    seen: int = 0

    def numbers_per_user(self) -> int:
        """How many numbers the cache keeps per user now: 2 · layers · seen · dim."""
        layers, _, heads, _, head_dim = self.keys.shape
        return 2 * layers * self.seen * heads * head_dim


def start_cache(model: SequentialRecommender, users: int, capacity: int) -> KVCache:
    """An empty cache for ``users`` histories of up to ``capacity`` items (at most
    ``max_len``). ``ValueError`` unless ``model`` is causal softmax attention (SASRec)."""
    config = model.config
    if (config.attention, config.direction) != ("softmax", "causal") or config.previous_item:
        raise ValueError(
            "a key/value cache serves causal softmax models (SASRec) without previous_item; "
            f"got attention={config.attention!r}, direction={config.direction!r}"
        )
    if not 1 <= capacity <= config.max_len:
        raise ValueError(f"capacity must be in 1..max_len={config.max_len}; got {capacity}")
    parameter = next(model.parameters())
    shape = (config.layers, users, config.heads, capacity, config.dim // config.heads)
    empty = torch.zeros(shape, dtype=parameter.dtype, device=parameter.device)
    return KVCache(keys=empty, values=empty.clone())


def cached_step(
    model: SequentialRecommender, cache: KVCache, items: Tensor
) -> tuple[KVCache, Tensor]:
    """Append one item per user (long ``(users,)``) and return the updated cache and the scores
    ``(users, num_items + 1)`` after it. The cache is updated in place. ``ValueError`` when full.
    """
    if cache.seen >= cache.keys.shape[-2]:
        raise ValueError(f"the cache is full ({cache.seen} items); start a larger one")
    t = cache.seen
    position = torch.full_like(items, t)
    x = model.item_embedding(items) + model.position_embedding(position)  # (users, dim)
    for layer, block in enumerate(model.blocks):
        attention = block.attention
        q, k, v = attention.to_qkv(block.attention_norm(x)).chunk(3, dim=-1)
        q, k, v = (rearrange(z, "b (h e) -> b h 1 e", h=attention.heads) for z in (q, k, v))
        cache.keys[layer, :, :, t : t + 1] = k
        cache.values[layer, :, :, t : t + 1] = v
        keys, values = cache.keys[layer, :, :, : t + 1], cache.values[layer, :, :, : t + 1]
        out = F.scaled_dot_product_attention(q, keys, values)  # the new token sees every key
        x = x + attention.to_out(rearrange(out, "b h 1 e -> b (h e)"))
        x = x + block.feed_forward(block.feed_forward_norm(x))
    cache.seen = t + 1
    return cache, model.score(model.final_norm(x))


def step_costs(
    hydra: SequentialRecommender,
    sasrec: SequentialRecommender,
    lengths: list[int],
    *,
    users: int = 1,
    repeats: int = 15,
) -> pd.DataFrame:
    """Seconds per new interaction after n earlier ones: HydraRec's streaming step
    (``streaming.advance``, its arithmetic without the input checks) against SASRec's cached
    step, both under ``torch.inference_mode``, timed in turns (``benchmark.time_calls``).

    Returns one row per n: ``n, users, hydra step seconds, SASRec cached step seconds, ratio``
    (SASRec / HydraRec), and the numbers each keeps per user (``hydra state numbers``:
    layers·dim; ``SASRec cache numbers``: 2·layers·n·dim).
    """
    for model in (hydra, sasrec):
        model.eval()
    calls, sizes = {}, {}
    with torch.inference_mode():
        for n in lengths:
            history = random_histories(users, n + 1, hydra.config.num_items)
            state = start_state(hydra, users)
            cache = start_cache(sasrec, users, capacity=n + 1)
            for t in range(n):
                state, _ = step(hydra, state, history[:, t])
                cache, _ = cached_step(sasrec, cache, history[:, t])
            new = history[:, n]
            calls[n, "hydra"] = lambda s=state, i=new: advance(hydra, s.sums, s.seen, i)
            calls[n, "sasrec"] = lambda c=cache, i=new: cached_step(sasrec, replace(c), i)
            sizes[n] = (state.sums[:, 0].numel(), cache.numbers_per_user())
        timings = time_calls(calls, repeats=repeats)
    rows = []
    for n in lengths:
        hydra_seconds, sasrec_seconds = (
            timings[n, way].best / users for way in ("hydra", "sasrec")
        )
        rows.append(
            {
                "n": n,
                "users": users,
                "hydra step seconds": hydra_seconds,
                "SASRec cached step seconds": sasrec_seconds,
                "ratio": sasrec_seconds / hydra_seconds,
                "hydra state numbers": sizes[n][0],
                "SASRec cache numbers": sizes[n][1],
            }
        )
    return pd.DataFrame(rows)
