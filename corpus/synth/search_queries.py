"""Search-benchmark queries of a synthetic catalog, written from its plan: brand, offer and speech queries, each with
every clip that answers it.

Three query sets, the ground truth of ``python -m benchmarks.search``:

- ``brand``: ``"<Brand> <product> ad"`` for every brand the catalog shows on screen (the brand overlay or the brand
  printed on a product label); answered by every clip that shows that brand on screen (the strings of
  ``overlays.screen_texts``, as in ``ocr_truth.jsonl``). The product named is the one of the video that shows the
  brand in the most clips (its lowest index on a tie).
- ``offer``: the price, badge or call to action a clip shows, typed as a user would ("ad with 50% off", "play now
  ad"); answered by every clip showing that string on screen.
- ``speech``: what a video's voice-over says, in other words ("the voice-over says it costs nothing", "Kova is
  called the top puzzle title this year"); answered by every clip of every video whose voice-over carries that
  statement. The voice-over's lines are recovered from the plan by drawing them as ``voiceover.voiceover`` does
  (:func:`voiceover_lines`; every line is checked against the transcript it produced), and each line template maps
  to the statements it makes (:data:`SPEECH_FACTS`), worded apart from the voice-over: no query shares a run of
  four words with a voice-over line template.

:func:`generate_catalog <corpus.synth.catalog.generate_catalog>` writes them beside the manifest as
``search_queries.jsonl`` (one JSON object per line; clips named by ``(manifest uri, clip index)`` like
``user_queries.jsonl``). Every set is written from the whole catalog; the benchmark picks the queries answered in
the split it scores.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from corpus.synth.overlays import screen_texts, shot_seed
from corpus.synth.plan import CatalogPlan, VideoSpec, seed_of
from corpus.synth.voiceover import _BENEFITS, _CTAS, _INTROS, _MIDDLES, _noise, voiceover

__all__ = [
    "OFFER_QUERIES",
    "SEARCH_QUERIES_NAME",
    "SEARCH_SETS",
    "SPEECH_FACTS",
    "SearchQuery",
    "brand_queries",
    "offer_queries",
    "product_noun",
    "read_search_queries",
    "search_queries",
    "speech_queries",
    "voiceover_lines",
    "write_search_queries",
]

SEARCH_QUERIES_NAME = "search_queries.jsonl"  # beside the manifest of a generated catalog
SEARCH_SETS = ("brand", "offer", "speech")
BRAND_ROLES = ("brand", "label")  # screen-text roles that show a brand

# What a video advertises, as a user names it in "<brand> <product> ad" (e-commerce and auto: the product category).
_SUB_NOUNS = {
    "banking": "banking",
    "insurance": "insurance",
    "language learning": "language course",
    "online courses": "online course",
    "hotels": "hotel",
    "flights": "flight",
    "social": "social app",
    "productivity": "productivity app",
}

# The on-screen price / badge / call to action (plan._TAGS) -> the query a user types for it.
OFFER_QUERIES = {
    "$9.99": "ad with a $9.99 price",
    "$19.99": "ad with a $19.99 price",
    "$29": "ad with a $29 price",
    "50% OFF": "ad with 50% off",
    "SALE": "ad with a sale banner",
    "NEW": "ad with a new badge",
    "PLAY NOW": "play now ad",
    "FREE": "ad with a free badge",
    "LEVEL UP": "level up ad",
    "0% FEES": "ad with 0% fees",
    "SIGN UP": "sign up ad",
    "FREE TRIAL": "free trial ad",
    "JOIN NOW": "join now ad",
    "-30%": "ad with 30% off",
    "BOOK NOW": "book now ad",
    "TEST DRIVE": "test drive ad",
    "GET IT NOW": "get it now ad",
}
_OFFER_ROLES = ("price", "badge", "cta")

# --- what the voice-over says -------------------------------------------------------------------------------------
# The line templates of voiceover.py's e-commerce and game lines (written there as f-strings; same order).
_PRODUCT_INTROS = (
    "Meet the new {brand} {category}.",
    "Introducing {brand}, the {category} everyone loves.",
    "This is the {brand} {category} you have been waiting for.",
)
_PRODUCT_ATTRS = (
    "It comes in {colour} {material}.",
    "Made from {material}, in a beautiful {colour}.",
    "The {colour} one is my favourite.",
)
_GAME_INTROS = (
    "Are you ready for the adventure?",
    "Only one percent of players can beat this level!",
    "This is {brand}, the best {genre} game of the year.",
)
_GAME_ATTRS = (
    "Play as a brave {hero} and defeat the monsters.",
    "Collect coins, level up and unlock new heroes.",
    "Build your team around a {hero}.",
)

# Statements several lines make, in the query's own words (a line maps to every statement it makes).
_COSTS_NOTHING = "the voice-over says it costs nothing"
_ACT_FAST = "narrator says the deal will not last long"
_PURCHASE = "speaker urges you to purchase it straight away"
_GET_APP = "voice tells you to put it on your device right away"
_REGISTER = "narrator asks you to register"
_RESERVE = "voice-over urges you to secure your getaway"
_SAVINGS = "speaker promises a discount"

# Line template (as voiceover.py renders it before noise) -> the statements it makes, as query templates. Slots:
# {brand} (capitalised), {category}, {colour}, {material}, {genre}, {hero}.
SPEECH_FACTS: dict[str, tuple[str, ...]] = {
    # e-commerce
    _PRODUCT_INTROS[0]: ("voice-over unveils the latest {category} by {brand}",),
    _PRODUCT_INTROS[1]: ("narrator says people adore the {brand} {category}",),
    _PRODUCT_INTROS[2]: ("the {brand} {category} is described as long awaited",),
    _PRODUCT_ATTRS[0]: ("narrator says it is available in {colour} {material}",),
    _PRODUCT_ATTRS[1]: ("voice-over mentions a lovely {colour} finish and {material} construction",),
    _PRODUCT_ATTRS[2]: ("speaker prefers the {colour} version",),
    "Your skin will love it.": ("voice-over says it is good for your complexion",),
    "Long lasting colour all day.": ("a shade that stays on from dawn to dusk",),
    "Look fresh from morning to night.": ("narrator promises a radiant appearance the entire day",),
    "Style that goes with everything.": ("voice-over says it matches any outfit",),
    "Comfortable from morning to night.": ("cosy to wear the entire day, says the narrator",),
    "Made to look good.": ("speaker says it was designed to be attractive",),
    "Fast, smart and built to last.": ("narrator calls it quick, clever and durable",),
    "A battery that lasts all day.": ("voice-over says the charge holds until bedtime",),
    "Clear sound and a sharp look.": ("crisp audio and a sleek design, says the voice",),
    "Fresh taste in every sip.": ("narrator says each drink tastes crisp",),
    "Made with natural ingredients.": ("voice-over mentions organic components",),
    "Sweet, fresh and delicious.": ("speaker calls it sugary and tasty",),
    "Make your home feel cosy.": ("narrator says it turns a house into a snug place",),
    "Simple, useful and beautiful.": ("voice-over calls it practical, handy and pretty",),
    "Perfect for every room.": ("speaker says it fits any space in the house",),
    # games
    _GAME_INTROS[0]: ("voice asks whether you are prepared for a quest",),
    _GAME_INTROS[1]: ("narrator claims hardly any gamers can clear this stage",),
    _GAME_INTROS[2]: ("{brand} is called the top {genre} title this year",),
    _GAME_ATTRS[0]: ("voice-over says you control a courageous {hero} who beats the creatures",),
    _GAME_ATTRS[1]: ("narrator says you gather gold, rank up and get more characters",),
    _GAME_ATTRS[2]: ("voice-over says to assemble a squad with a {hero} at its core",),
    # finance, education, travel, auto, apps: intros and middles
    "Managing money is hard.": ("narrator says handling your finances is difficult",),
    "Tired of bank fees?": ("voice asks if you are fed up with banking charges",),
    "Your money deserves better.": ("speaker says your savings should get a better deal",),
    "Learn a new language in ten minutes a day.": ("pick up a foreign tongue with short daily sessions",),
    "Want to learn faster?": ("voice asks if you would like to study more quickly",),
    "School made easy.": ("narrator says studying becomes simple",),
    "Dreaming of your next holiday?": ("voice asks if you are imagining your upcoming vacation",),
    "The sea is waiting for you.": ("narrator says the ocean awaits",),
    "Time for a break?": ("voice asks if you need some time off",),
    "The new {brand} is here.": ("voice-over announces that the latest {brand} has arrived",),
    "Meet the new {brand}.": ("narrator says hello to the latest {brand}",),
    "Power and comfort in one.": ("strength and a smooth ride combined, says the voice",),
    "Everything you need in one app.": ("voice-over says a single application covers all your needs",),
    "Your day, organised.": ("narrator says it helps you plan your schedule",),
    "Stay in touch with friends.": ("voice-over says you can keep up with your pals",),
    "With {brand} you can save money every month.": ("narrator says {brand} helps you put cash aside monthly",),
    "No hidden fees, ever.": ("voice-over promises no secret charges",),
    "Your card, your rules.": ("narrator says you control your own card",),
    "{brand} makes learning easy and fun.": ("voice-over says {brand} turns studying into something enjoyable",),
    "Short lessons with real teachers.": ("narrator mentions brief classes with genuine tutors",),
    "Practise every day.": ("voice tells you to train daily",),
    "Book with {brand} and save thirty percent.": ("narrator says reserving through {brand} costs 30% less",),
    "Hotels and flights at the best price.": ("voice-over promises the cheapest rooms and plane tickets",),
    "Sunny beaches and city breaks.": ("narrator mentions sunshine on the coast and urban getaways",),
    "Safe, strong and efficient.": ("voice-over calls it secure, sturdy and economical",),
    "The {colour} {brand} looks amazing.": ("narrator says the {colour} {brand} is gorgeous",),
    "Comfort for the whole family.": ("voice-over says there is room for all the kids and parents",),
    "{brand} is fast and simple.": ("narrator says {brand} is quick and easy to use",),
    "Join millions of happy users.": ("voice-over says countless satisfied people use it",),
    "Your photos, notes and chats.": ("narrator mentions pictures, memos and messages in one place",),
    # calls to action
    "Limited offer, shop today!": (_ACT_FAST, _PURCHASE),
    "Order now and get free delivery.": (_PURCHASE, "voice-over promises shipping at no cost"),
    "Shop today while stocks last.": (_PURCHASE, "narrator says to hurry until supplies run out"),
    "Buy now, limited offer.": (_PURCHASE, _ACT_FAST),
    "Download now and play for free!": (_GET_APP, _COSTS_NOTHING),
    "Install now, it is free.": (_GET_APP, _COSTS_NOTHING),
    "Download {brand} today.": (_GET_APP,),
    "Sign up today and get a bonus.": (_REGISTER, "narrator promises a reward for new customers"),
    "Join {brand} today.": (_REGISTER,),
    "Apply now, limited offer.": (_REGISTER, _ACT_FAST),
    "Join now and get your first week free.": (_REGISTER, "voice-over says the first seven days cost nothing"),
    "Download now and start learning.": (_GET_APP,),
    "Sign up today.": (_REGISTER,),
    "Limited offer, book today.": (_ACT_FAST, _RESERVE),
    "Book now and save.": (_RESERVE, _SAVINGS),
    "Reserve your trip today.": (_RESERVE,),
    "Visit your dealer today.": ("narrator tells you to go to the showroom",),
    "Limited offer, order now.": (_ACT_FAST, _PURCHASE),
    "Find out more today.": ("voice-over invites you to get more information",),
    "Download the {brand} app now.": (_GET_APP,),
    "Get it free today.": (_GET_APP, _COSTS_NOTHING),
    "Download now, it is free.": (_GET_APP, _COSTS_NOTHING),
}


@dataclass(frozen=True)
class SearchQuery:
    """One query of a search set and every clip that answers it; clips are ``(manifest uri, clip index)``."""

    query_id: str
    set: str  # one of SEARCH_SETS
    text: str
    about: dict  # what the query asks for: {"brand": ...}, {"screen_text": ..., "role": ...}, {"said": [lines]}
    matches: tuple[tuple[str, int], ...]  # sorted

    def to_json(self) -> dict:
        """The JSON object of one line of ``search_queries.jsonl``."""
        return {
            "query_id": self.query_id,
            "set": self.set,
            "text": self.text,
            "about": self.about,
            "matches": [list(m) for m in self.matches],
        }


def product_noun(video: VideoSpec) -> str:
    """What a video advertises, in the words of a ``"<brand> <product> ad"`` query (``"lipstick"``, ``"puzzle
    game"``, ``"hotel"``)."""
    if video.industry == "games":
        return f"{video.sub_industry} game"
    if video.product is not None and video.industry in ("e-commerce", "auto"):
        return video.product.category
    return _SUB_NOUNS.get(video.sub_industry, video.sub_industry)


def _screen(plan: CatalogPlan, uris: Sequence[str]) -> list[tuple[tuple[str, int], VideoSpec, list]]:
    assert len(uris) == len(plan.videos), "one uri per video"
    out = []
    for v, uri in zip(plan.videos, uris, strict=True):
        for k, shot in enumerate(v.shots):
            out.append(((uri, k), v, screen_texts(shot, shot_seed(v.seed, k))))
    return out


def brand_queries(plan: CatalogPlan, uris: Sequence[str]) -> list[SearchQuery]:
    """One ``"<Brand> <product> ad"`` query per brand shown on screen anywhere in the catalog, answered by every
    clip showing it (as a brand overlay or on a product label), brands in alphabetical order."""
    shown: dict[str, list[tuple[str, int]]] = {}
    per_video: dict[str, dict[int, int]] = {}  # brand -> video index -> clips showing it
    videos = {v.index: v for v in plan.videos}
    for key, v, texts in _screen(plan, uris):
        brands = {t.text for t in texts if t.role in BRAND_ROLES}
        for b in brands:
            shown.setdefault(b, []).append(key)
            counts = per_video.setdefault(b, {})
            counts[v.index] = counts.get(v.index, 0) + 1
    out = []
    for b in sorted(shown):
        top = min(per_video[b].items(), key=lambda kv: (-kv[1], kv[0]))[0]
        text = f"{b.capitalize()} {product_noun(videos[top])} ad"
        out.append(SearchQuery(f"brand-{b.lower()}", "brand", text, {"brand": b}, tuple(sorted(shown[b]))))
    return out


def offer_queries(plan: CatalogPlan, uris: Sequence[str]) -> list[SearchQuery]:
    """One query per price, badge or call to action shown on screen anywhere in the catalog (``OFFER_QUERIES``;
    another string: ``"ad showing <it>"``), answered by every clip showing that string."""
    shown: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for key, _v, texts in _screen(plan, uris):
        for t in texts:
            if t.role in _OFFER_ROLES:
                shown.setdefault((t.text, t.role), []).append(key)
    out = []
    for n, (tag, role) in enumerate(sorted(shown)):
        text = OFFER_QUERIES.get(tag, f"ad showing {tag.lower()}")
        out.append(
            SearchQuery(
                f"offer-{n:03d}",
                "offer",
                text,
                {"screen_text": tag, "role": role},
                tuple(sorted(set(shown[tag, role]))),
            )
        )
    return out


def voiceover_lines(video: VideoSpec) -> list[tuple[str, dict[str, str]]]:
    """The lines of ``video``'s voice-over before ASR noise, as ``(template, slot values)`` pairs: the draws of
    ``voiceover.voiceover`` with the rng the catalog gives it (``seed_of("asr", video.seed)``).

    Raises:
        AssertionError: the lines do not reproduce the catalog's transcript (``voiceover.py`` changed: update the
            templates here).
    """
    rng = random.Random(seed_of("asr", video.seed))
    brand = video.brand.capitalize()
    slots = {"brand": brand, "colour": video.product.colour if video.product is not None else ""}
    lines: list[tuple[str, dict[str, str]]] = []
    if video.industry == "e-commerce":
        p = video.product
        assert p is not None, "an e-commerce video features a product"
        own = {**slots, "category": p.category, "colour": p.colour, "material": p.material}
        lines.append((rng.choice(_PRODUCT_INTROS), own))
        lines.append((rng.choice(_PRODUCT_ATTRS), own))
        lines.append((rng.choice(_BENEFITS[video.sub_industry]), slots))
    elif video.industry == "games":
        classes = sorted({s.character.cls for s in video.shots if s.character is not None})
        hero = rng.choice(classes) if classes else "hero"
        own = {**slots, "hero": hero, "genre": video.sub_industry}
        lines.append((rng.choice(_GAME_INTROS), own))
        lines.append((rng.choice(_GAME_ATTRS), own))
    else:
        lines.append((rng.choice(_INTROS[video.industry]), slots))
        lines.append((rng.choice(_MIDDLES[video.industry]), slots))
    lines.append((rng.choice(_CTAS[video.industry]), slots))
    text = " ".join(t.format(**s) for t, s in lines)
    noisy = " ".join(_noise(text.split(), rng))
    expected = voiceover(video, random.Random(seed_of("asr", video.seed)))
    assert noisy == expected, f"video {video.index}: voiceover_lines no longer reproduces voiceover.voiceover"
    return lines


def speech_queries(plan: CatalogPlan, uris: Sequence[str]) -> list[SearchQuery]:
    """One query per statement a voice-over of the catalog makes (``SPEECH_FACTS``, slots filled), answered by every
    clip of every video whose voice-over makes it; in order of first appearance."""
    assert len(uris) == len(plan.videos), "one uri per video"
    said: dict[str, list[tuple[str, int]]] = {}
    lines_of: dict[str, set[str]] = {}
    for v, uri in zip(plan.videos, uris, strict=True):
        for template, slots in voiceover_lines(v):
            facts = SPEECH_FACTS.get(template)
            assert facts is not None, f"no statement written for the voice-over line {template!r}"
            for fact in facts:
                text = fact.format(**slots)
                keys = said.setdefault(text, [])
                keys += [(uri, k) for k in range(len(v.shots)) if (uri, k) not in keys]
                lines_of.setdefault(text, set()).add(template.format(**slots))
    return [
        SearchQuery(f"speech-{n:03d}", "speech", text, {"said": sorted(lines_of[text])}, tuple(sorted(keys)))
        for n, (text, keys) in enumerate(said.items())
    ]


def search_queries(plan: CatalogPlan, uris: Sequence[str]) -> list[SearchQuery]:
    """The brand, offer and speech queries of a catalog (see the module docstring)."""
    return [*brand_queries(plan, uris), *offer_queries(plan, uris), *speech_queries(plan, uris)]


def write_search_queries(queries: Sequence[SearchQuery], path: str | Path) -> Path:
    """Write ``queries`` as JSON lines (atomically); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    with tmp.open("w", encoding="utf-8") as f:
        for q in queries:
            f.write(json.dumps(q.to_json(), ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


_WORDS = re.compile(r"[a-z0-9%$'-]+")


def read_search_queries(path: str | Path) -> list[SearchQuery]:
    """Read a ``search_queries.jsonl`` file.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: a line is not a valid query (the message names the file and line).
    """
    path = Path(path)
    out = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                if not isinstance(d, dict):
                    raise ValueError("not a JSON object")
                text, kind = d["text"], d["set"]
                if not isinstance(text, str) or not _WORDS.search(text.lower()):
                    raise ValueError(f"text must be a non-empty string, got {text!r}")
                if kind not in SEARCH_SETS:
                    raise ValueError(f"set must be one of {', '.join(SEARCH_SETS)}, got {kind!r}")
                matches = []
                for m in d["matches"]:
                    if not (isinstance(m, list) and len(m) == 2 and isinstance(m[0], str) and isinstance(m[1], int)):
                        raise ValueError(f"a match must be [uri, clip index], got {m!r}")
                    matches.append((m[0], m[1]))
                about = d.get("about", {})
                if not isinstance(about, dict):
                    raise ValueError(f"about must be an object, got {about!r}")
                out.append(SearchQuery(str(d["query_id"]), kind, text, about, tuple(matches)))
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path}, line {n}: not a search query ({type(e).__name__}: {e})") from e
    return out
