"""Throughput of the company-mention matcher against two plain baselines.

    python benchmarks/mention_speed.py [--companies 10000] [--articles 20000] [--seed 7]

Generates, deterministically and in memory, a client list (invented 1-3 word names, about a
fifth of them ordinary English words like "Summit" or "Polar Freight", some with legal suffixes,
aliases, domains and context words) and English-like articles of 80-250 words, about 30% of which
mention 1-3 of the clients (some in the title). Then, over the same articles (title + text):

- ours: ``MentionFinder(companies).find(text, "en", title)``;
- (a) plain spaCy: ``spacy.blank("en")`` + ``PhraseMatcher(attr="LOWER")`` of every name and
  alias, run on ``nlp.make_doc(title + "\\n\\n" + text)`` (tokenizes everything, then matches);
- (b) raw pyahocorasick: an automaton of lower-cased names and aliases iterated over the
  lower-cased article, keeping hits with a word boundary on both sides.

Each is built (construction time reported on its own), warmed up on the first articles, then
timed over all of them. The baselines only find strings; ours also weighs each occurrence, so
its hits are fewer. Peak RSS is the whole process's (resource.getrusage).
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ahocorasick
import spacy
from spacy.matcher import PhraseMatcher

from outreach.adapters.mentions import MentionFinder
from outreach.core.model import Company

WARM_UP = 100  # articles matched before timing starts

# Everyday English words that make ambiguous company names ("Delta", "Summit", "Polar").
COMMON_WORDS = """
delta summit polar apex atlas beacon bridge cascade anchor arrow aurora autumn avenue badger
banner basin bay beam bear bell birch blade blaze bloom blue bolt boulder brook brick bright
bronze buffalo cable canyon capital cardinal carbon castle cedar central century champion
channel charter chase citadel city civic clear cliff cloud coast cobalt comet compass condor
copper coral core corner cove crane crest crown crystal current cypress dawn direct dolphin
dome dove dragon eagle echo edge elder element elm ember empire energy equity evergreen falcon
field first flag fleet flint focus forest forge fortune fox frontier galaxy garden gate
gateway giant glacier global gold granite graphite green grove guardian harbor harvest haven
hawk heart helix heritage highland horizon hub hunter icon independent insight iron island
ivory jade jaguar journey jupiter keystone kingdom lake landmark laser legacy liberty light
lighthouse lily lime lincoln linear lion lotus lunar magnet majestic maple marble mariner
matrix meadow mercury meridian mesa metro midland mill mint mission monarch mosaic motion
mountain national native navigator neptune nexus noble north nova oak oasis ocean olive omega
onyx orbit orchard origin osprey pacific palm panther paragon patriot peak pearl pegasus
pelican phoenix pilot pine pinnacle pioneer planet platinum plaza point premier prime prism
pulse quantum quest radiant rainbow range raven redwood regal reliance ridge river rock
rocket royal ruby sage sail sapphire saturn scout sentinel shield shore sierra signal silver
sky solar sonic spark spectrum sphere spirit spring spruce square star sterling stone storm
stream strong sun sunrise swift synergy tandem target terra thunder tiger timber titan torch
tower trail trident trinity triumph true unity valley vanguard vector velocity venture
vertex victory viking vision vista voyager wave west willow wind wolf zenith union standard
general united pacific western eastern southern northern metro alliance prospect crossroads
""".split()
COMMON_WORDS = list(dict.fromkeys(COMMON_WORDS))
LEGAL_SUFFIXES = ["Ltd", "plc", "Inc.", "GmbH", "AG", "Oy", "AS", "Kft.", "LLC", "Group"]
INDUSTRY_WORDS = """freight logistics software bakery brewery hotel hotels packaging seafood
analytics consultancy insurance shipping retail furniture textiles pharmacy dairy mining energy
construction engineering recruitment printing catering robotics solar fintech clinic""".split()
FUNCTION_WORDS = """the the the the of of of and and and to to to a a in in is that for on
with as was by at from it be this are or an have has had not but which were their its also
more after over new said will would about than into two three last year years one up out
who other could when they been there most some first market week company people government
""".split()
VERBS = ["said", "announced", "reported", "opened", "signed", "plans", "won", "has"]
ONSETS = "b c d f g h j k l m n p r s t v w z br cr dr fl gr kl pr st tr sh ch th".split()
VOWELS = "a e i o u a e i o ai ea ou io".split()
CODAS = ["", "", "", "n", "r", "l", "s", "t", "x", "m", "nd", "rk", "st"]


@dataclass(frozen=True)
class Article:
    title: str
    text: str
    planted: frozenset[str]  # company ids deliberately mentioned


def syllable(rng: random.Random) -> str:
    return rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS)


def invented_word(rng: random.Random) -> str:
    return "".join(syllable(rng) for _ in range(rng.choice((2, 2, 3))))


def make_companies(n: int, rng: random.Random) -> list[Company]:
    companies: list[Company] = []
    names: set[str] = set()
    while len(companies) < n:
        ordinary = rng.random() < 0.2  # ordinary words: "Summit", "Polar Summit"
        while True:
            if ordinary:
                words = [w.capitalize() for w in rng.sample(COMMON_WORDS, rng.choice((1, 2)))]
            else:
                count = rng.choices((1, 2, 3), weights=(4, 4, 2))[0]
                words = [invented_word(rng).capitalize() for _ in range(count)]
            base = " ".join(words)
            if base not in names:
                break
        names.add(base)
        aliases: list[str] = []
        name = base
        if rng.random() < 0.25:
            name = f"{base} {rng.choice(LEGAL_SUFFIXES)}"
            aliases.append(base)
        if len(words) > 1 and rng.random() < 0.3:
            aliases.append(words[0])  # the short name people use
        if len(words) > 1 and rng.random() < 0.1:
            aliases.append("".join(w[0] for w in words).upper())  # "KTV"
        i = len(companies)
        domain = f"{words[0].lower()}{i}.example" if rng.random() < 0.5 else None
        context = tuple(rng.sample(INDUSTRY_WORDS, rng.randint(1, 3))) if rng.random() < 0.3 else ()
        companies.append(Company(f"c{i:05d}", name, tuple(aliases), domain, context))
    return companies


def make_vocabulary(rng: random.Random, size: int = 3000) -> tuple[list[str], list[float]]:
    """Invented words (Zipf-like weights), everyday words and heavy function words."""
    invented = list(dict.fromkeys(invented_word(rng) for _ in range(size)))
    words = invented + COMMON_WORDS + FUNCTION_WORDS
    weights = [1.0 / (rank + 10) for rank in range(len(invented))]
    weights += [0.001] * len(COMMON_WORDS) + [0.03] * len(FUNCTION_WORDS)
    cumulative: list[float] = []
    total = 0.0
    for w in weights:
        total += w
        cumulative.append(total)
    return words, cumulative


def sentence(rng: random.Random, words: list[str], cumulative: list[float], n: int) -> list[str]:
    tokens = rng.choices(words, cum_weights=cumulative, k=n)
    tokens = [t.capitalize() if rng.random() < 0.04 else t for t in tokens]  # proper nouns
    tokens[0] = tokens[0].capitalize()
    return tokens


def mention(company: Company, rng: random.Random) -> list[str]:
    written = rng.choice((company.name, company.name, *company.aliases))
    tokens = written.split()
    if rng.random() < 0.5:
        tokens.append(rng.choice(VERBS))
    return tokens


def make_articles(
    n: int, companies: Sequence[Company], rng: random.Random
) -> tuple[list[Article], int]:
    words, cumulative = make_vocabulary(rng)
    articles: list[Article] = []
    total_words = 0
    for _ in range(n):
        length = rng.randint(80, 250)
        sentences: list[list[str]] = []
        while sum(len(s) for s in sentences) < length:
            sentences.append(sentence(rng, words, cumulative, rng.randint(8, 22)))
        title = sentence(rng, words, cumulative, rng.randint(4, 9))
        title = [t.capitalize() if len(t) > 3 else t for t in title]
        planted: list[Company] = []
        if rng.random() < 0.3:
            planted = rng.sample(list(companies), rng.randint(1, 3))
            for i, company in enumerate(planted):
                if i == 0 and rng.random() < 0.3:
                    title[rng.randrange(len(title))] = company.name
                target = rng.choice(sentences)
                at = rng.randrange(len(target))
                target[at:at] = mention(company, rng)
                if at == 0 and len(target) > 1 and target[1][0].isupper():
                    target[1] = target[1].lower()
        text = " ".join(" ".join(s) + "." for s in sentences)
        heading = " ".join(title)
        total_words += len(heading.split()) + len(text.split())
        articles.append(Article(heading, text, frozenset(c.id for c in planted)))
    return articles, total_words


def forms(companies: Sequence[Company]) -> list[str]:
    return [f for c in companies for f in (c.name, *c.aliases)]


@dataclass
class Result:
    name: str
    build: float
    warm_up: float
    match: float
    hits: int

    def rates(self, articles: int, words: int) -> tuple[float, float]:
        return articles / self.match, words / self.match


def timed(
    name: str, build: Callable[[], Callable[[Article], int]], articles: Sequence[Article]
) -> Result:
    start = time.perf_counter()
    run = build()
    built = time.perf_counter() - start
    start = time.perf_counter()
    for article in articles[:WARM_UP]:
        run(article)
    warm = time.perf_counter() - start
    start = time.perf_counter()
    hits = sum(run(article) for article in articles)
    matched = time.perf_counter() - start
    print(f"  {name}: done in {built + warm + matched:.1f}s (peak RSS so far {peak_mib():.0f} MiB)")
    return Result(name, built, warm, matched, hits)


def ours(
    companies: Sequence[Company], found: dict[int, set[str]]
) -> Callable[[], Callable[[Article], int]]:
    def build() -> Callable[[Article], int]:
        finder = MentionFinder(companies)
        first = companies[0]
        finder.find(f"{first.name} said on Monday it had hired staff.", "en", "")  # spaCy setup

        def run(article: Article) -> int:
            result = finder.find(article.text, "en", article.title)
            found[id(article)] = {f.company_id for f in result}
            return len(result)

        return run

    return build


def plain_spacy(companies: Sequence[Company]) -> Callable[[], Callable[[Article], int]]:
    def build() -> Callable[[Article], int]:
        nlp = spacy.blank("en")
        matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        patterns = [nlp.make_doc(form) for form in forms(companies)]
        for company in companies:
            count = 1 + len(company.aliases)
            matcher.add(company.id, patterns[:count])
            patterns = patterns[count:]

        def run(article: Article) -> int:
            return len(matcher(nlp.make_doc(f"{article.title}\n\n{article.text}")))

        return run

    return build


def raw_ahocorasick(companies: Sequence[Company]) -> Callable[[], Callable[[Article], int]]:
    def build() -> Callable[[Article], int]:
        automaton = ahocorasick.Automaton()
        for company in companies:
            for form in (company.name, *company.aliases):
                key = form.lower()
                if key in automaton:
                    automaton.get(key)[1].append(company.id)
                else:
                    automaton.add_word(key, (len(key), [company.id]))
        automaton.make_automaton()

        def run(article: Article) -> int:
            text = f"{article.title}\n\n{article.text}".lower()
            hits = 0
            for end, (length, ids) in automaton.iter(text):
                begin = end - length + 1
                if begin > 0 and text[begin - 1].isalnum():
                    continue
                if end + 1 < len(text) and text[end + 1].isalnum():
                    continue
                hits += len(ids)  # one per company, like the PhraseMatcher's match ids
            return hits

        return run

    return build


def peak_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--companies", type=int, default=10_000)
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    start = time.perf_counter()
    companies = make_companies(args.companies, rng)
    articles, words = make_articles(args.articles, companies, rng)
    generated = time.perf_counter() - start
    names = forms(companies)
    planted = sum(len(a.planted) for a in articles)
    ordinary = sum(c.name.split()[0].lower() in COMMON_WORDS for c in companies)
    common = set(COMMON_WORDS)
    everyday = sum(w.strip(".").lower() in common for a in articles for w in a.text.split())
    print(
        f"generated in {generated:.1f}s (seed {args.seed}): {len(companies)} companies "
        f"({len(names)} names and aliases; {ordinary} starting with an everyday word), "
        f"{len(articles)} articles, {words} words, "
        f"{sum(bool(a.planted) for a in articles)} articles with {planted} planted mentions; "
        f"everyday words that are also client names are {everyday / words:.1%} of the words"
    )

    found: dict[int, set[str]] = {}
    results = [
        timed("ours", ours(companies, found), articles),
        timed("(a) spaCy PhraseMatcher", plain_spacy(companies), articles),
        timed("(b) pyahocorasick", raw_ahocorasick(companies), articles),
    ]

    print()
    print(
        f"{'':<24} {'build s':>8} {'warm-up s':>9} {'match s':>8} {'articles/s':>11} "
        f"{'words/s':>10} {'hits':>7}"
    )
    for r in results:
        per_article, per_word = r.rates(len(articles), words)
        print(
            f"{r.name:<24} {r.build:>8.2f} {r.warm_up:>9.2f} {r.match:>8.2f} "
            f"{per_article:>11,.0f} {per_word:>10,.0f} {r.hits:>7}"
        )
    ours_rate = results[0].rates(len(articles), words)[0]
    for r in results[1:]:
        print(f"throughput ours / {r.name}: {ours_rate / r.rates(len(articles), words)[0]:.2f}")
    recovered = sum(len(a.planted & found.get(id(a), set())) for a in articles)
    extra = sum(len(found.get(id(a), set()) - a.planted) for a in articles)
    print(
        f"ours found {recovered} of {planted} planted (article, company) pairs "
        f"({recovered / planted if planted else 0:.1%}); {extra} other pairs"
    )
    print(f"peak RSS: {peak_mib():.0f} MiB")


if __name__ == "__main__":
    main()
