"""Language facts the matcher leans on: how common a word is, legal-form suffixes, case
folding that keeps string lengths, sentence spans."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import regex
import wordfreq

# Legal forms that make a name unmistakably a company ("Össur hf.", "ТОВ «Дельта»").
LEGAL_FORMS = frozenset(
    """inc inc. corp corp. corporation co co. ltd ltd. limited plc llc l.l.c. llp lp gmbh ag kg
    se sa s.a. sas sarl srl spa s.p.a. nv bv b.v. n.v. oy oyj ab asa as a/s aps hf hf. ehf
    ehf. sf sf. ses oü oü. as. kft kft. zrt zrt. nyrt nyrt. bt bt. rt sp. z.o.o. sro s.r.o.
    tov тов пат прат ат ооо оао зао пп фоп ձбն սպը փբը բբը group holding holdings""".split()
)
# Languages that inflect names by changing their ending ("Heklu", "a Deltánál", "Агросвіту").
INFLECTING = frozenset(
    {
        "is",
        "hu",
        "et",
        "fi",
        "uk",
        "ru",
        "hy",
        "pl",
        "cs",
        "sk",
        "lt",
        "lv",
        "sl",
        "hr",
        "sr",
        "bg",
        "de",
        "tr",
    }
)
_WORDFREQ_LANGUAGES = frozenset(wordfreq.available_languages())
# A sentence ends at . ! ? … before a capital or a digit, or at a blank line.
_SENTENCE_END = regex.compile(
    r"(?<=[.!?…])[\"”»)\]]*\s+(?=[\"“«(\[]*[\p{Lu}\d])|\n\s*\n|\n(?=\s*[-•*])"
)
_LAST_WORD = regex.compile(r"(\S+)[.!?…][\"”»)\]]*$")


WELL_KNOWN = 3.5  # Zipf: a word everyone knows ("air" 5.4, "iceland" 4.7, "стар" 3.6)


@lru_cache(maxsize=200_000)
def commonness(word: str, language: str) -> float:
    """Zipf frequency of `word` as an ordinary word (0: unheard of, 7: 'the'), the highest of
    the text's language and English, which news everywhere borrows from."""
    lowered = word.lower()
    score = wordfreq.zipf_frequency(lowered, "en")
    if language in _WORDFREQ_LANGUAGES and language != "en":
        score = max(score, wordfreq.zipf_frequency(lowered, language))
    return float(score)


def has_word_list(language: str) -> bool:
    """Whether `commonness` knows the language's own words, not only English ones."""
    return language in _WORDFREQ_LANGUAGES


_FOLD: dict[int, str] = {}
_SPECIAL = {
    "ð": "d",
    "þ": "t",
    "æ": "a",
    "ø": "o",
    "ß": "s",
    "ł": "l",
    "đ": "d",
    "ı": "i",
    "œ": "o",
}


def fold(text: str) -> str:
    """Lower-case without diacritics, one character for one: positions stay comparable."""
    return _fold_word(text) if len(text) <= 40 else _fold(text)


@lru_cache(maxsize=100_000)
def _fold_word(text: str) -> str:
    return _fold(text)


def _fold(text: str) -> str:
    missing = {ord(c) for c in set(text)} - _FOLD.keys()
    for code in missing:
        _FOLD[code] = _fold_char(chr(code))
    return text.translate(_FOLD)


def _fold_char(char: str) -> str:
    lowered = char.lower()
    if len(lowered) != 1:
        return char
    if lowered in _SPECIAL:
        return _SPECIAL[lowered]
    base = unicodedata.normalize("NFKD", lowered)[0]
    return base if base.isalnum() or not lowered.isalnum() else lowered


def strip_accents(text: str) -> str:
    """'Össur' -> 'Ossur', keeping case: how names are often typed."""
    return "".join(
        _SPECIAL_CASED.get(c, c)
        for c in unicodedata.normalize("NFKD", text)
        if not unicodedata.combining(c)
    )


_SPECIAL_CASED = {**_SPECIAL, **{k.upper(): v.upper() for k, v in _SPECIAL.items() if len(v) == 1}}


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence; good enough to quote the sentence a name stands in."""
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        if _abbreviation_before(text, match.start()):
            continue
        if match.start() > start:
            spans.append((start, match.start()))
        start = match.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def _abbreviation_before(text: str, end: int) -> bool:
    """'Össur hf. Opens', 'J. Smith': a full stop that ends a legal form or an initial."""
    last = _LAST_WORD.search(text, max(0, end - 30), end)
    if last is None:
        return False
    word = last.group(1).lower()
    return word in LEGAL_FORMS or f"{word}." in LEGAL_FORMS or (len(word) == 1 and word.isalpha())


def is_capitalised(word: str) -> bool:
    letters = [c for c in word if c.isalpha()]
    return bool(letters) and letters[0].isupper()


def mostly_upper(words: list[str]) -> bool:
    """An ALL-CAPS headline: capitals there say nothing about names."""
    letters = [w for w in words if sum(c.isalpha() for c in w) >= 2]
    return len(letters) >= 2 and sum(w.isupper() for w in letters) >= 0.8 * len(letters)


def title_cased(words: list[str]) -> bool:
    """A Title Case Headline: capitals there say little about names either."""
    long_words = [w for w in words if sum(c.isalpha() for c in w) >= 4]
    return len(long_words) >= 3 and sum(is_capitalised(w) for w in long_words) >= 0.75 * len(
        long_words
    )


# Nouns that say "a company" near a name ("Shell, the Leicester carton maker"), by language;
# in compounding languages a word ending in one counts ("diagnostikafirma", "fiskútflytjandi").
COMPANY_NOUNS = frozenset(
    """company companies firm firms maker makers manufacturer manufacturers producer supplier
    retailer chain group startup start-up consultancy consultants agency operator carrier
    forwarder distributor developer contractor cooperative co-op bank insurer brand business
    subsidiary plant factory employer shipyard brewery bakery dairy studio lab laboratory
    fyrirtæki fyrirtækið fyrirtækisins félag félagið félagsins framleiðandi framleiðandinn
    útgerð verksmiðja verktaki heildsala
    cég cége cégnél céget vállalat vállalkozás társaság gyár gyártó forgalmazó kft zrt
    firma ettevõte ettevõtte tootja ehitusfirma tehas pood kett
    компанія компанії компанію компанією підприємство підприємства виробник виробника
    фірма фірми мережа мережі завод заводу оператор перевізник
    ընկերություն ընկերությունը ընկերության ընկերությունում արտադրող գործարան""".split()
)
# Nouns that say "not a company" right beside a name ("Hekla, one of Iceland's most active
# volcanoes", "Brightwater, a village near Nelson", "the Nimbus weather satellites").
OTHER_NOUNS = frozenset(
    """village town city river mountain mount volcano volcanoes eruption lake island valley
    park street road bay peninsula region county district glacier
    film movie novel book song album band ship satellite satellites spacecraft rocket star
    planet galaxy variant strain storm hurricane festival team club footballer player singer
    character horse breed farmer teacher student actor actress writer author artist doctor
    nurse lawyer politician minister mayor resident pensioner father mother son daughter
    wife husband brother sister grandmother grandfather bóndi kennari földműves tanár
    talunik õpetaja фермер вчитель учитель ֆերմեր ուսուցիչ
    eldfjall eldfjallið gos gosið fjall fjallið jökull á áin
    folyó folyón hegy város falu tó sziget
    jõgi mägi linn küla järv saar
    річка річки гора місто село озеро острів
    լեռ լեռը գետ լիճ քաղաք գյուղ""".split()
)
COMPOUNDING = frozenset({"is", "hu", "et", "fi", "de", "nl", "sv", "da", "nb"})
# Folded, and at least three letters: folded "á" (a river) or "tó" (a lake) are also "a", "to".
COMPANY_NOUNS = frozenset(fold(n) for n in COMPANY_NOUNS if len(n) >= 3)
OTHER_NOUNS = frozenset(fold(n) for n in OTHER_NOUNS if len(n) >= 3)


def noun_in(word: str, nouns: frozenset[str], language: str) -> bool:
    """`word` (folded) is one of `nouns`, with an ending of up to four letters, or — in
    compounding languages — ends a compound with one."""
    if word in nouns:
        return True
    heads, tails = _affixes(nouns)
    if word[:4] in heads and any(
        word[:cut] in nouns for cut in range(max(4, len(word) - 4), len(word))
    ):
        return True
    return (
        language in COMPOUNDING
        and word[-4:] in tails
        and any(word[-cut:] in nouns for cut in range(4, len(word) - 2))
    )


@lru_cache(maxsize=8)
def _affixes(nouns: frozenset[str]) -> tuple[frozenset[str], frozenset[str]]:
    """First and last four letters of the nouns: a cheap gate before the slower checks."""
    long_nouns = [n for n in nouns if len(n) >= 4]
    return frozenset(n[:4] for n in long_nouns), frozenset(n[-4:] for n in long_nouns)


# Legal forms that are also everyday words somewhere ("as", "se", "co", "at"): these count
# only when written with a capital ("AS", "SE", "Co.").
_WORDLIKE_FORMS = frozenset(
    """as as. se sa s.a. sas spa co co. ab ag at bt bt. rt lp nv bv kg sf sf. ses aps ou
    ат пп""".split()
)


def legal_form(word: str) -> bool:
    """'hf.', 'plc', 'GmbH', 'Kft.-vel' (with a case ending), 'AS': a company's legal form."""
    bare = word.strip('«»"“”()')
    head = bare.split("-", 1)[0] if "-" in bare[1:] else bare
    lowered = head.lower()
    key = lowered if lowered in LEGAL_FORMS else lowered.rstrip(".")
    if key not in LEGAL_FORMS:
        return False
    return key not in _WORDLIKE_FORMS or head[:1].isupper()


# Case endings names take, folded (accents off), by language: "Heklu", "a Deltánál",
# "Deltale", "«Агросвіту»". A longer word that merely starts like a name ("Marelli") is
# another name.
CASE_ENDINGS: dict[str, frozenset[str]] = {
    lang: frozenset(fold(e) for e in endings.split())
    for lang, endings in {
        "is": "s a i u ar ir ur um ið inu ins nir num ann an ins",
        "hu": "t at et ot öt nak nek nál nél ban ben ba be ból ből ra re ról ről hoz hez höz "
        "tól től val vel vál vél ig ért ként on en ön n ul ül é ék nál nél t",
        "et": "le l lt ga ks s st sse ni na ta t d de lle lla lta ssa sta ile il ilt i e u",
        "fi": "n a ä ssa ssä sta stä lla llä lta ltä lle ksi na nä in ineen tta ttä",
        "uk": "а я у ю ом ем єм і ї ові еві ам ям ах ях ами ями и е",
        "ru": "а я у ю ом ем ой ей е и ы ам ям ах ях ами ями ов",
        "hy": "ի ը ն ով ում ից ին ու",
    }.items()
}


@lru_cache(maxsize=100_000)
def coined(word: str, language: str) -> bool:
    """A brand glued from two everyday words ("Icelandair", "Київстар", "Укрзалізниця"): no
    dictionary has it as a word, however often the news prints it. In languages that
    compound everyday words ("eimskip", a steamship), only English halves count."""
    lowered = word.lower()
    if len(lowered) < 7 or not lowered.isalpha():
        return False
    languages = ("en",) if language in COMPOUNDING else ("en", language)
    return any(
        _well_known(lowered[:cut], languages) and _well_known(lowered[cut:], languages)
        for cut in range(3, len(lowered) - 2)
    )


@lru_cache(maxsize=100_000)
def everyday_compound(word: str, language: str) -> bool:
    """In a language that compounds everyday words, a word that ends in one of at least four
    letters ("Eimskip": eim- + skip, a steamship) may be such a compound, a brand or not."""
    lowered = word.lower()
    if language not in COMPOUNDING or not lowered.isalpha():
        return False
    return any(_well_known(lowered[cut:], (language,)) for cut in range(3, len(lowered) - 3))


def _well_known(part: str, languages: tuple[str, ...]) -> bool:
    """A word, not a fragment that happens to be in a frequency list ("нок" in "світанок")."""
    return any(
        lang in _WORDFREQ_LANGUAGES and wordfreq.zipf_frequency(part, lang) >= WELL_KNOWN
        for lang in languages
    )


# Cyrillic to Latin as domain names spell it (the Ukrainian national system, and Russian's
# own letters): "Київстар" is kyivstar.ua.
_CYRILLIC = "абвгґдеєжзиіїйклмнопрстуфхцчшщьюяёыэъ"
_IN_LATIN = "a b v h g d e ie zh z y i i i k l m n o p r s t u f kh ts ch sh shch - iu ia e y e -"
_LATIN = str.maketrans(dict(zip(_CYRILLIC, _IN_LATIN.split(), strict=True)))


def transliterate(text: str) -> str:
    """Lower-case Latin letters for a name in Cyrillic ("Київстар" -> "kyivstar")."""
    return text.lower().translate(_LATIN).replace("-", "")
