"""A simulated crowd: true sentences, honest transcribers with realistic errors, and spammers."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


def _groups(text: str) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(group.split()) for group in text.split("|"))


HOMOPHONES = _groups(
    "their there they're | to too two | right write | hear here | know no | see sea | one won | "
    "for four | by buy bye | new knew | weather whether | whole hole | piece peace | flower "
    "flour | meet meat | sun son | week weak | would wood | which witch | break brake | mail "
    "male | road rode | where wear | plain plane | tail tale"
)
SPELLINGS = _groups(
    "color colour | center centre | gray grey | realize realise | theater theatre | okay ok | "
    "favorite favourite | traveled travelled | email e-mail | organize organise"
)
COMMON = _groups(
    "the a and of in is it that was he she we they you with on at as from this have had not but "
    "what all were when your can said an each how will up other about out many then them these "
    "so some her would make like him into time has look more go way could people than first "
    "water been call who oil its now find long down day did get come made may part over say "
    "little work place year live me back give most very after thing our just name good sentence "
    "man think great help through much before line turn cause same mean differ move boy old too "
    "does tell set three want air well also play small end put home read hand port large spell "
    "add even land must big high such follow act why ask men change went light kind off need "
    "house picture try us again animal point mother world near build self earth father head "
    "stand own page should country found answer school grow study still learn plant cover food "
    "between state keep eye never last let thought city tree cross farm hard start might story "
    "saw far draw left late run don't while press close night real life few"
)[0]
VOCABULARY = tuple(
    sorted({*COMMON, *(w for g in HOMOPHONES for w in g), *(w for g in SPELLINGS for w in g)})
)
_GROUP_OF = {w: g for g in (*HOMOPHONES, *SPELLINGS) for w in g}


@dataclass(frozen=True)
class Contributor:
    contributor_id: str
    word_error_rate: float  # 0 for spammers: they do not try
    spam_style: str | None = None  # empty, random, other_chunk, mash, fixed


@dataclass
class SimulatedChunk:
    chunk_id: str
    truth: str
    transcriptions: list[tuple[str, str]] = field(default_factory=list)  # (contributor, text)


def make_crowd(
    rng: random.Random, honest: int, spammers: int, mean_error: float = 0.10
) -> list[Contributor]:
    """Honest contributors with error rates spread around mean_error, and spammers."""
    people = [
        Contributor(f"h{k:03d}", max(0.0, rng.uniform(0.4, 1.6) * mean_error))
        for k in range(honest)
    ]
    styles = ("empty", "random", "other_chunk", "mash", "fixed")
    people += [Contributor(f"s{k:03d}", 0.0, styles[k % len(styles)]) for k in range(spammers)]
    return people


def true_sentence(rng: random.Random) -> str:
    """A sentence-like word sequence of 5-18 words (Zipf-like over the vocabulary)."""
    n = rng.randint(5, 18)
    weights = [1.0 / (rank + 5) for rank in range(len(VOCABULARY))]
    words = rng.choices(VOCABULARY, weights=weights, k=n)
    return " ".join(words).capitalize() + "."


def transcribe(rng: random.Random, truth: str, who: Contributor, other_truth: str) -> str:
    """What `who` types for a chunk whose true text is `truth`."""
    if who.spam_style is not None:
        return _spam(rng, who, other_truth)
    out: list[str] = []
    for word in truth.rstrip(".").lower().split():
        if rng.random() >= who.word_error_rate:
            out.append(word)
            continue
        kind = rng.random()
        if kind < 0.45:
            out.append(_substitute(rng, word))
        elif kind < 0.75:
            continue  # deletion
        else:
            out += [word, rng.choice(VOCABULARY)]  # insertion
    return _surface_noise(rng, out)


def _substitute(rng: random.Random, word: str) -> str:
    group = _GROUP_OF.get(word)
    if group and rng.random() < 0.7:
        return rng.choice([w for w in group if w != word])
    if len(word) > 3 and rng.random() < 0.4:  # a typo
        i = rng.randrange(len(word))
        return word[:i] + rng.choice("aeiourstln") + word[i + 1 :]
    return rng.choice(VOCABULARY)


def _surface_noise(rng: random.Random, words: list[str]) -> str:
    """Casing and punctuation habits that normalisation must see through."""
    styled = []
    for i, word in enumerate(words):
        if (i == 0 and rng.random() < 0.7) or rng.random() < 0.03:
            word = word.capitalize()
        if rng.random() < 0.02:
            word = word.upper()
        if rng.random() < 0.05:
            word += rng.choice([",", ";", " -", ":"])
        styled.append(word)
    text = " ".join(styled)
    if rng.random() < 0.6:
        text += rng.choice([".", "!", "?", "..."])
    return ("  " if rng.random() < 0.1 else "") + text


def _spam(rng: random.Random, who: Contributor, other_truth: str) -> str:
    if who.spam_style == "empty":
        return rng.choice(["", " ", "...", "?"])
    if who.spam_style == "random":
        return " ".join(rng.choices(VOCABULARY, k=rng.randint(3, 15)))
    if who.spam_style == "other_chunk":
        return other_truth
    if who.spam_style == "mash":
        return " ".join(
            "".join(rng.choices("asdfghjklqwertyuiop", k=rng.randint(3, 9)))
            for _ in range(rng.randint(1, 6))
        )
    return "I do not understand this recording"


def crowd_of(seed: int, crowd_size: int = 40, mean_error: float = 0.10) -> list[Contributor]:
    """The crowd that simulate() with the same arguments draws its contributors from."""
    return _draw_crowd(random.Random(seed), crowd_size, mean_error)


def _draw_crowd(rng: random.Random, crowd_size: int, mean_error: float) -> list[Contributor]:
    return make_crowd(rng, crowd_size, max(5, crowd_size // 8), mean_error)


def simulate(
    seed: int,
    chunks: int,
    per_chunk: int,
    spammers_per_chunk: int = 0,
    mean_error: float = 0.10,
    crowd_size: int = 40,
) -> list[SimulatedChunk]:
    """Chunks, each transcribed by `per_chunk` honest people and some spammers from one crowd."""
    rng = random.Random(seed)
    crowd = _draw_crowd(rng, crowd_size, mean_error)
    honest = [c for c in crowd if c.spam_style is None]
    spam = [c for c in crowd if c.spam_style is not None]
    truths = [true_sentence(rng) for _ in range(chunks)]
    out = []
    for k, truth in enumerate(truths):
        chunk = SimulatedChunk(chunk_id=f"c{k:05d}", truth=truth)
        other = truths[(k + 1) % len(truths)]
        for who in rng.sample(honest, per_chunk) + rng.sample(spam, spammers_per_chunk):
            chunk.transcriptions.append((who.contributor_id, transcribe(rng, truth, who, other)))
        rng.shuffle(chunk.transcriptions)
        out.append(chunk)
    return out
