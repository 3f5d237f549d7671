"""The ad voice-over of a video, standing in for its ASR transcript: brand, product, attributes and calls to action.

It never mentions movements (what the frames show happening), and carries ASR-like noise: dropped and repeated
words, filler words and misheard substitutions.
"""

from __future__ import annotations

import random

from corpus.synth.plan import VideoSpec

__all__ = ["voiceover"]

_BENEFITS = {
    "beauty": ("Your skin will love it.", "Long lasting colour all day.", "Look fresh from morning to night."),
    "fashion": ("Style that goes with everything.", "Comfortable from morning to night.", "Made to look good."),
    "electronics": ("Fast, smart and built to last.", "A battery that lasts all day.", "Clear sound and a sharp look."),
    "food & drink": ("Fresh taste in every sip.", "Made with natural ingredients.", "Sweet, fresh and delicious."),
    "home": ("Make your home feel cosy.", "Simple, useful and beautiful.", "Perfect for every room."),
}
_INTROS = {
    "finance": ("Managing money is hard.", "Tired of bank fees?", "Your money deserves better."),
    "education": ("Learn a new language in ten minutes a day.", "Want to learn faster?", "School made easy."),
    "travel": ("Dreaming of your next holiday?", "The sea is waiting for you.", "Time for a break?"),
    "auto": ("The new {brand} is here.", "Meet the new {brand}.", "Power and comfort in one."),
    "apps": ("Everything you need in one app.", "Your day, organised.", "Stay in touch with friends."),
}
_MIDDLES = {
    "finance": ("With {brand} you can save money every month.", "No hidden fees, ever.", "Your card, your rules."),
    "education": ("{brand} makes learning easy and fun.", "Short lessons with real teachers.", "Practise every day."),
    "travel": (
        "Book with {brand} and save thirty percent.",
        "Hotels and flights at the best price.",
        "Sunny beaches and city breaks.",
    ),
    "auto": ("Safe, strong and efficient.", "The {colour} {brand} looks amazing.", "Comfort for the whole family."),
    "apps": ("{brand} is fast and simple.", "Join millions of happy users.", "Your photos, notes and chats."),
}
_CTAS = {
    "e-commerce": (
        "Limited offer, shop today!",
        "Order now and get free delivery.",
        "Shop today while stocks last.",
        "Buy now, limited offer.",
    ),
    "games": ("Download now and play for free!", "Install now, it is free.", "Download {brand} today."),
    "finance": ("Sign up today and get a bonus.", "Join {brand} today.", "Apply now, limited offer."),
    "education": ("Join now and get your first week free.", "Download now and start learning.", "Sign up today."),
    "travel": ("Limited offer, book today.", "Book now and save.", "Reserve your trip today."),
    "auto": ("Visit your dealer today.", "Limited offer, order now.", "Find out more today."),
    "apps": ("Download the {brand} app now.", "Get it free today.", "Download now, it is free."),
}
_FILLERS = ("uh", "um", "you know", "like", "so")
# Misheard words: sound-alikes a small ASR model produces.
_MISHEARD = {
    "shop": "chop",
    "now": "know",
    "offer": "often",
    "free": "three",
    "today": "to day",
    "new": "knew",
    "buy": "by",
    "your": "you're",
    "level": "label",
    "brave": "grave",
    "fees": "fleas",
    "save": "safe",
    "learn": "earn",
    "book": "look",
    "holiday": "holly day",
    "sea": "see",
    "made": "maid",
    "skin": "kin",
    "sweet": "suite",
    "coins": "corns",
    "install": "in stall",
    "money": "honey",
}


def _product_lines(v: VideoSpec, rng: random.Random) -> list[str]:
    p = v.product
    assert p is not None, "an e-commerce video features a product"
    brand = v.brand.capitalize()
    mat = p.material
    intro = rng.choice(
        (
            f"Meet the new {brand} {p.category}.",
            f"Introducing {brand}, the {p.category} everyone loves.",
            f"This is the {brand} {p.category} you have been waiting for.",
        )
    )
    attrs = rng.choice(
        (
            f"It comes in {p.colour} {mat}.",
            f"Made from {mat}, in a beautiful {p.colour}.",
            f"The {p.colour} one is my favourite.",
        )
    )
    return [intro, attrs, rng.choice(_BENEFITS[v.sub_industry])]


def _game_lines(v: VideoSpec, rng: random.Random) -> list[str]:
    classes = sorted({s.character.cls for s in v.shots if s.character is not None})
    hero = rng.choice(classes) if classes else "hero"
    brand = v.brand.capitalize()
    intro = rng.choice(
        (
            "Are you ready for the adventure?",
            "Only one percent of players can beat this level!",
            f"This is {brand}, the best {v.sub_industry} game of the year.",
        )
    )
    attrs = rng.choice(
        (
            f"Play as a brave {hero} and defeat the monsters.",
            "Collect coins, level up and unlock new heroes.",
            f"Build your team around a {hero}.",
        )
    )
    return [intro, attrs]


def _noise(words: list[str], rng: random.Random) -> list[str]:
    out: list[str] = []
    for w in words:
        r = rng.random()
        if r < 0.04:  # dropped
            continue
        core = w.strip(".,!?").lower()
        if core in _MISHEARD and rng.random() < 0.3:
            w = w.lower().replace(core, _MISHEARD[core])
        out.append(w)
        if r > 0.97:  # repeated
            out.append(w)
        if rng.random() < 0.04:
            out.append(rng.choice(_FILLERS) + ",")
    return out


def voiceover(video: VideoSpec, rng: random.Random) -> str:
    """The noisy voice-over transcript of ``video``."""
    brand = video.brand.capitalize()
    colour = video.product.colour if video.product is not None else ""
    if video.industry == "e-commerce":
        lines = _product_lines(video, rng)
    elif video.industry == "games":
        lines = _game_lines(video, rng)
    else:
        lines = [rng.choice(_INTROS[video.industry]), rng.choice(_MIDDLES[video.industry])]
    lines.append(rng.choice(_CTAS[video.industry]))
    text = " ".join(lines).format(brand=brand, colour=colour)
    return " ".join(_noise(text.split(), rng))
