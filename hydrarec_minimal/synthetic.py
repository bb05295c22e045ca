"""A small, seeded, MovieLens-shaped stand-in: unit tests and the loud offline fallback.

Items form a chain within each latent genre; users mostly step 1-3 items down the chain of
their last item, otherwise jump to an unseen item by Zipf popularity (favourite genres first),
so a sequential model can beat popularity. No repeats; timestamps increase per user.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hydrarec_minimal.movielens import InteractionData

GENRES = (
    "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)  # fmt: skip

_START = 874_724_710  # 1997-09-20, like ML-100K
_SPAN = 18_561_928  # ML-100K's time span in seconds (about seven months)
_RATING_PROBS = (0.06, 0.11, 0.27, 0.34, 0.22)  # ML-100K's distribution of ratings 1..5
_STEP_PROBS = (0.6, 0.25, 0.15)  # chain steps of 1, 2, 3


def make_synthetic(
    *,
    num_users: int = 500,
    num_items: int = 400,
    num_genres: int = 10,
    mean_length: float = 30.0,
    min_length: int = 5,
    follow_prob: float = 0.7,
    popularity_exponent: float = 1.1,
    seed: int = 0,
) -> InteractionData:
    """About ``num_users * mean_length`` interactions, as the MovieLens loader returns them.

    Same arguments, same data. Lengths are log-normal with the given mean, from ``min_length``
    to half the catalogue. Titles read like "Synthetic Comedy 12 (1994)".
    """
    if not 1 <= num_genres <= len(GENRES):
        raise ValueError(f"num_genres must be in 1..{len(GENRES)}, got {num_genres}")
    if num_items < 2 * num_genres or min_length < 1 or min_length > num_items // 2:
        raise ValueError("need num_items >= 2 * num_genres and 1 <= min_length <= num_items // 2")
    rng = np.random.default_rng(seed)

    # Items 0..num_items-1 (ids 1..num_items): genre, Zipf popularity, chain successors.
    genre = rng.integers(num_genres, size=num_items)
    genre[:num_genres] = np.arange(num_genres)  # every genre has at least one item
    rank = rng.permutation(num_items)
    weight = 1.0 / (rank + 1.0) ** popularity_exponent
    chains = [rng.permutation(np.flatnonzero(genre == g)) for g in range(num_genres)]
    successor = np.empty(num_items, np.int64)
    for chain in chains:
        successor[chain] = np.roll(chain, -1)
    genre_weight = np.bincount(genre, weights=weight, minlength=num_genres)

    lengths = rng.lognormal(mean=np.log(mean_length) - 0.32, sigma=0.8, size=num_users)
    lengths = np.clip(np.round(lengths), min_length, num_items // 2).astype(int)

    users, items, times = [], [], []
    for user in range(num_users):
        favourites = rng.choice(
            num_genres, size=min(2, num_genres), replace=False, p=genre_weight / genre_weight.sum()
        )[: rng.integers(1, 3)]
        liked = np.isin(genre, favourites)
        seen = np.zeros(num_items, bool)
        sequence: list[int] = []
        for step in range(lengths[user]):
            item = -1
            if step > 0 and rng.random() < follow_prob:
                item = sequence[-1]
                for _ in range(rng.choice(3, p=_STEP_PROBS) + 1):
                    item = successor[item]
                for _ in range(num_items):  # skip seen items along the chain
                    if not seen[item] or item == sequence[-1]:
                        break
                    item = successor[item]
                if seen[item]:
                    item = -1  # the whole chain is seen: jump instead
            if item < 0:
                unseen = ~seen
                if rng.random() < 0.8 and (liked & unseen).any():
                    unseen &= liked
                p = weight * unseen
                item = int(rng.choice(num_items, p=p / p.sum()))
            seen[item] = True
            sequence.append(item)
        start = _START + int(rng.integers(0, _SPAN // 2))
        gaps = 1 + rng.exponential(3600.0, size=len(sequence)).astype(np.int64)
        users.append(np.full(len(sequence), user + 1))
        items.append(np.asarray(sequence) + 1)
        times.append(start + np.cumsum(gaps))

    ratings = 1 + rng.choice(5, size=sum(map(len, items)), p=_RATING_PROBS)
    interactions = pd.DataFrame(
        {
            "user_id": np.concatenate(users).astype(np.int64),
            "item_id": np.concatenate(items).astype(np.int64),
            "rating": ratings.astype(np.float32),
            "timestamp": np.concatenate(times).astype(np.int64),
        }
    )
    years = rng.integers(1950, 1999, size=num_items)
    number = pd.Series(genre).groupby(genre).cumcount() + 1  # 1, 2, ... within each genre
    titles = [
        f"Synthetic {GENRES[g]} {n} ({y})" for g, n, y in zip(genre, number, years, strict=True)
    ]
    item_table = pd.DataFrame(
        {
            "item_id": np.arange(1, num_items + 1, dtype=np.int64),
            "title": titles,
            "year": years.astype(np.int64),
            "genres": [(GENRES[g],) for g in genre],
        }
    )
    location = (
        f"generated in memory by hydrarec_minimal.synthetic.make_synthetic(seed={seed}, "
        f"num_users={num_users}, num_items={num_items})"
    )
    return InteractionData("synthetic", interactions, item_table, location)
