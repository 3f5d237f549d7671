"""Planning a synthetic catalog: labels, shots and splits of every video, and the held-out combinations (pure data)."""

from __future__ import annotations

import dataclasses
import hashlib
import random
from dataclasses import dataclass

from corpus.synth.ontology import (
    BRANDS,
    CHARACTERS,
    COLOURS,
    GAME_GENRES,
    INDUSTRIES,
    PERSON_NOUNS,
    PRODUCTS,
    STUDIO_BACKDROPS,
    SUB_PRODUCTS,
    SUB_SETTINGS,
)
from corpus.synth.scene import (
    HELDOUT_MOVES,
    Overlay,
    Person,
    Product,
    Shot,
    primary_combination,
    sample_character,
    sample_enemy,
    sample_moves,
    sample_person,
)

__all__ = [
    "SPLIT_SHARES",
    "CatalogPlan",
    "VideoSpec",
    "heldout_combinations",
    "plan_catalog",
    "sample_video",
    "seed_of",
]

# Share of clips per split; test_comp holds only held-out attribute combinations.
SPLIT_SHARES = {"train": 0.70, "val": 0.05, "test": 0.17, "test_comp": 0.08}
HELDOUT_SHARE = 0.1  # fraction of (colour, first movement) pairs held out per subject word
MIN_SHOTS, MAX_SHOTS = 3, 8
MIN_SHOT_S, MAX_SHOT_S = 2, 6
MIN_FRAMES_PER_MOVE = 7  # so that 8 frames sampled from a clip see every movement of its sequence

_TAGS = {
    "e-commerce": ("$9.99", "$19.99", "$29", "50% OFF", "SALE", "NEW"),
    "games": ("PLAY NOW", "FREE", "LEVEL UP"),
    "finance": ("0% FEES", "SIGN UP"),
    "education": ("FREE TRIAL", "JOIN NOW"),
    "travel": ("-30%", "BOOK NOW"),
    "auto": ("TEST DRIVE", "NEW"),
    "apps": ("FREE", "GET IT NOW"),
}
_NOUN_WEIGHTS = {
    "beauty": {"woman": 0.6, "girl": 0.2, "man": 0.12, "boy": 0.08},
    "fashion": {"woman": 0.45, "man": 0.35, "girl": 0.1, "boy": 0.1},
    "education": {"woman": 0.3, "man": 0.3, "girl": 0.2, "boy": 0.2},
}
_DEFAULT_NOUNS = {"woman": 0.4, "man": 0.4, "girl": 0.1, "boy": 0.1}


def _rng(*parts: object) -> random.Random:
    """A generator seeded from a path of values, identical in every process (no use of ``hash()``)."""
    return random.Random(seed_of(*parts))


def seed_of(*parts: object) -> int:
    """A 64-bit seed from a path of values (e.g. ``("text", video_seed, shot_index)``), stable across processes."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


@dataclass(frozen=True)
class VideoSpec:
    """One video of the catalog: labels, the featured product and brand, and its shots."""

    index: int
    seed: int  # the video's own seed (texts are drawn from it)
    split: str
    industry: str
    sub_industry: str
    product_label: str | None  # manifest label `product`
    game: str | None  # manifest label `game` (genre)
    brand: str
    product: Product | None  # the product the ad features (also a phone prop for finance/apps/education)
    shots: tuple[Shot, ...]
    fps: int

    @property
    def n_frames(self) -> int:
        return sum(s.n_frames for s in self.shots)


@dataclass(frozen=True)
class CatalogPlan:
    """All videos of a catalog and the attribute combinations held out for the compositional split."""

    seed: int
    fps: int
    videos: tuple[VideoSpec, ...]
    heldout: frozenset[tuple[str, str, str]]  # (subject word, colour, first movement)


def _mover_of(word: str) -> str:
    if word in PERSON_NOUNS:
        return "person"
    if word in CHARACTERS:
        return "character"
    return "car" if word == "car" else "product"


def heldout_combinations(seed: int) -> frozenset[tuple[str, str, str]]:
    """The (subject word, colour, first movement) triples that only the ``test_comp`` split shows.

    For every person noun, product category and character class, ~10% of its (colour, first movement) pairs.
    """
    out: set[tuple[str, str, str]] = set()
    for word in (*PERSON_NOUNS, *PRODUCTS, *CHARACTERS):
        pairs = [(c, m) for c in COLOURS for m in HELDOUT_MOVES[_mover_of(word)]]
        rng = _rng("heldout", seed, word)
        out.update((word, c, m) for c, m in rng.sample(pairs, max(1, round(HELDOUT_SHARE * len(pairs)))))
    return frozenset(out)


def _pick(rng: random.Random, shares: dict[str, float]) -> str:
    return rng.choices(list(shares), weights=list(shares.values()))[0]


class _VideoSampler:
    """Draws the shots of one video; compositional videos draw only held-out combinations."""

    def __init__(self, rng: random.Random, heldout: frozenset[tuple[str, str, str]], comp: bool):
        self.rng, self.heldout, self.comp = rng, heldout, comp

    def heldout_pairs(self, word: str, colour: str | None = None) -> list[tuple[str, str]]:
        return sorted((c, m) for w, c, m in self.heldout if w == word and (colour is None or c == colour))

    def forbidden(self, word: str, colour: str) -> frozenset[str]:
        return frozenset(m for w, c, m in self.heldout if w == word and c == colour)

    def moves(self, mover: str, n: int, word: str, colour: str, **kw) -> tuple[tuple[str, ...], str] | None:
        if not self.comp:
            return sample_moves(self.rng, mover, n, forbid_first=self.forbidden(word, colour), **kw)
        pairs = [m for c, m in self.heldout_pairs(word, colour)]
        self.rng.shuffle(pairs)
        for m in pairs:
            got = sample_moves(self.rng, mover, n, first=m, **kw)
            if got is not None:
                return got
        return None

    def product(self, category: str, label: str | None) -> Product:
        cat = PRODUCTS[category]
        colours = list(COLOURS)
        if self.comp:  # a colour that has held-out first movements for this category
            colours = sorted({c for c, _ in self.heldout_pairs(category)})
        return Product(category, self.rng.choice(colours), self.rng.choice(cat.materials), label if cat.label else None)

    def person(self, nouns: dict[str, float], accessory_p: float, prev: Person | None) -> Person:
        if prev is not None and not self.comp and self.rng.random() < 0.4:
            return prev  # the same presenter in several shots, as in real ads
        p = sample_person(self.rng, noun_weights=nouns, accessory_p=accessory_p)
        if self.comp:
            colour, _ = self.rng.choice(self.heldout_pairs(p.noun))
            p = dataclasses.replace(p, clothing_colour=colour)
        return p


def sample_video(
    seed: int,
    index: int,
    *,
    split: str,
    n_shots: int,
    fps: int,
    heldout: frozenset[tuple[str, str, str]],
    attempt: int = 0,
) -> VideoSpec:
    """Draw one video from (seed, index, attempt) alone, so that any process draws the same video."""
    vseed = seed_of("video", seed, index, attempt)
    rng = random.Random(vseed)
    comp = split == "test_comp"
    s = _VideoSampler(rng, heldout, comp)
    industry = _pick(rng, {k: v.share for k, v in INDUSTRIES.items()})
    ind = INDUSTRIES[industry]
    sub = _pick(rng, ind.subs)
    brand = rng.choice(BRANDS)
    product = None
    classes: tuple[str, ...] = ()
    if industry == "e-commerce":
        product = s.product(rng.choice(SUB_PRODUCTS[sub]), brand)
        pool = SUB_SETTINGS[sub]
    elif industry == "games":
        classes, pool = GAME_GENRES[sub]
    else:
        pool = ind.settings
        if industry == "auto":
            product = s.product("car", None)
        elif "product" in ind.shot_kinds:
            product = s.product("phone", brand)
    nouns = _NOUN_WEIGHTS.get(sub, _NOUN_WEIGHTS.get(industry, _DEFAULT_NOUNS))
    accessory_p = 0.45 if industry == "travel" else 0.3
    shots: list[Shot] = []
    prev_person = prev_char = None
    prev_setting = None
    for _ in range(100 * n_shots):
        if len(shots) == n_shots:
            break
        kind = _pick(rng, ind.shot_kinds)
        settings = [x for x in pool if x != prev_setting] or list(pool)
        setting = rng.choice(settings)
        n_frames = rng.randint(MIN_SHOT_S * fps, MAX_SHOT_S * fps)
        n_moves = min(rng.choices((1, 2, 3), weights=(0.25, 0.4, 0.35))[0], n_frames // MIN_FRAMES_PER_MOVE)
        common = {
            "setting": setting,
            "n_frames": n_frames,
            "backdrop": rng.choice(list(STUDIO_BACKDROPS)) if setting == "studio" else None,
        }
        if rng.random() < 0.35:
            show_brand, show_tag = rng.choice(((True, False), (False, True), (True, True)))
            common["overlay"] = Overlay(
                brand if show_brand else None, rng.choice(_TAGS[industry]) if show_tag else None
            )
        shot = None
        if kind in ("person", "person_product"):
            person = s.person(nouns, accessory_p, prev_person)
            held = kind == "person_product" and rng.random() < 0.6
            cat = product.category if kind == "person_product" and product is not None else None
            got = s.moves("person", n_moves, person.noun, person.clothing_colour, product=cat, held=held)
            if got is not None:
                shot = Shot(
                    kind=kind,
                    movements=got[0],
                    start_side=got[1],
                    person=person,
                    product=product if cat else None,
                    held=held,
                    **common,
                )
                prev_person = person
        elif kind in ("product", "car"):
            assert product is not None, f"{industry} shows no product"
            got = s.moves(kind, n_moves, product.category, product.colour, product=product.category)
            if got is not None:
                shot = Shot(kind=kind, movements=got[0], start_side=got[1], product=product, **common)
        else:
            char = prev_char if prev_char is not None and not comp and rng.random() < 0.5 else None
            if char is None:
                char = sample_character(rng, classes)
                if comp:
                    colour, _ = rng.choice(s.heldout_pairs(char.cls))
                    char = dataclasses.replace(char, outfit_colour=colour)
            got = s.moves("character", n_moves, char.cls, char.outfit_colour)
            if got is not None:
                shot = Shot(
                    kind="character",
                    movements=got[0],
                    start_side=got[1],
                    character=char,
                    enemy=sample_enemy(rng),
                    hud=True,
                    **common,
                )
                prev_char = char
        if shot is None:
            continue  # no movement sequence fits (e.g. a forced first movement): draw the shot again
        assert (primary_combination(shot) in heldout) == comp, "held-out combinations only in test_comp"
        shots.append(shot)
        prev_setting = setting
    assert len(shots) == n_shots, f"video {index}: could only draw {len(shots)} of {n_shots} shots"
    return VideoSpec(
        index=index,
        seed=vseed,
        split=split,
        industry=industry,
        sub_industry=sub,
        product_label=product.category if industry in ("e-commerce", "auto") and product else None,
        game=sub if industry == "games" else None,
        brand=brand,
        product=product,
        shots=tuple(shots),
        fps=fps,
    )


def _shot_counts(n_clips: int, rng: random.Random) -> list[int]:
    counts: list[int] = []
    while sum(counts) < n_clips:
        counts.append(rng.randint(MIN_SHOTS, MAX_SHOTS))
    excess = sum(counts) - n_clips
    for i in range(len(counts) - 1, -1, -1):  # trim from the end, never below MIN_SHOTS
        cut = min(excess, counts[i] - MIN_SHOTS)
        counts[i] -= cut
        excess -= cut
        if not excess:
            break
    if excess:  # every video is down to MIN_SHOTS: drop the last one and give its missing shots to the others
        counts.pop()
        for i in range(len(counts) - 1, -1, -1):
            while sum(counts) < n_clips and counts[i] < MAX_SHOTS:
                counts[i] += 1
    assert sum(counts) == n_clips, (n_clips, counts)
    return counts


def _assign_splits(counts: list[int], rng: random.Random) -> list[str]:
    """Give each video a split so that clip counts follow SPLIT_SHARES; every split gets a video when it can."""
    order = list(range(len(counts)))
    rng.shuffle(order)
    total = sum(counts)
    splits = [""] * len(counts)
    assigned = dict.fromkeys(SPLIT_SHARES, 0)
    if len(counts) >= len(SPLIT_SHARES):  # small catalogs (tests) still get one video per split
        for name, i in zip(("test", "test_comp", "val"), order, strict=False):
            splits[i] = name
            assigned[name] += counts[i]
        order = order[3:]
    for i in order:
        name = max(SPLIT_SHARES, key=lambda k: SPLIT_SHARES[k] * total - assigned[k])
        splits[i] = name
        assigned[name] += counts[i]
    return splits


def plan_catalog(n_clips: int, *, seed: int = 0, fps: int = 10, avoid: CatalogPlan | None = None) -> CatalogPlan:
    """Plan every video of a catalog of ``n_clips`` clips: deterministic for (n_clips, seed, fps, avoid).

    Every clip's content (what its description states) is distinct across the catalog: a video that would repeat
    an earlier clip is drawn again with the next attempt number.

    ``avoid``: another catalog's plan (e.g. the default catalog's) that this one must stay apart from, for
    pretraining data: no clip repeats one of its clips' content, and its held-out combinations are held out here
    too (outside ``test_comp``), so a model trained on this catalog's other splits keeps that catalog's
    compositional split compositional. This catalog's own ``test_comp`` videos then draw from both held-out sets:
    leave them out of training.

    Raises:
        ValueError: when ``n_clips`` < 3 or ``fps`` is outside 4-30.
    """
    if n_clips < MIN_SHOTS:
        raise ValueError(f"n_clips must be >= {MIN_SHOTS} (one video has {MIN_SHOTS}-{MAX_SHOTS} shots), got {n_clips}")
    if not 4 <= fps <= 30:
        raise ValueError(f"fps must be between 4 and 30 (8-12 recommended), got {fps}")
    rng = _rng("plan", seed, n_clips)
    counts = _shot_counts(n_clips, rng)
    splits = _assign_splits(counts, rng)
    heldout = heldout_combinations(seed)
    seen: set[tuple] = set()
    if avoid is not None:
        heldout = heldout | avoid.heldout
        seen.update(s.content_key() for v in avoid.videos for s in v.shots)
    videos = []
    for i, (n, split) in enumerate(zip(counts, splits, strict=True)):
        for attempt in range(1000):
            v = sample_video(seed, i, split=split, n_shots=n, fps=fps, heldout=heldout, attempt=attempt)
            keys = [s.content_key() for s in v.shots]
            if len(set(keys)) == len(keys) and seen.isdisjoint(keys):
                break
        else:  # pragma: no cover - the content space is far larger than any catalog
            raise AssertionError(f"video {i}: no distinct content after 1000 attempts")
        seen.update(keys)
        videos.append(v)
    return CatalogPlan(seed=seed, fps=fps, videos=tuple(videos), heldout=heldout)
