"""How much an occurrence of a name is evidence for the company: additive weights, each a
reason a careful reader would give, clamped to [0, 1].

A rare name ("Össur", "Kerfisþróun") needs little more than its right case; an ordinary word
("Delta", "Summit", "Shell") needs the company's own context — its context words or domain,
a legal form — before it counts; a name that is only part of a longer proper noun ("Delta
Air Lines", "Mount Hekla") or sits in an exclude phrase does not count at all.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from spacy.tokens import Doc, Span

from outreach.adapters.mentions.lexicon import (
    COMPANY_NOUNS,
    OTHER_NOUNS,
    coined,
    commonness,
    everyday_compound,
    fold,
    has_word_list,
    is_capitalised,
    legal_form,
    mostly_upper,
    noun_in,
    sentence_spans,
    strip_accents,
    title_cased,
    transliterate,
)
from outreach.core.model import Company

MIN_CONFIDENCE = 0.7
COMMON = 3.0  # Zipf: an everyday word ("delta" 4.1, "summit" 4.3)
UNCOMMON = 2.0  # known, but rarely a plain word ("kestrel" 2.5)
# The weights `weigh` adds up.
BASE_RARE, BASE_UNCOMMON, BASE_COMMON = 0.7, 0.5, 0.2
CAPITAL, LEGAL, CONTEXT, PLACE_CONTEXT, DOMAIN, VERB = 0.2, 0.5, 0.4, 0.15, 0.4, 0.15
COMPANY_NOUN_BESIDE, COMPANY_NOUN_IN_SENTENCE, OTHER_NOUN = 0.3, 0.25, -0.5
INFLECTED, REPEATED, IN_TITLE = -0.1, 0.05, 0.05
ORG_ENTITY, OTHER_ENTITY = 0.25, -0.3  # from an optional trained pipeline
OTHER_ENTITIES = frozenset({"GPE", "LOC", "PERSON", "PER", "FAC", "NORP", "EVENT", "WORK_OF_ART"})
# The most an everyday word can score with no evidence of the company at all; the finder
# skips such sentences without tokenizing them when this is below its threshold.
COMMON_WITHOUT_EVIDENCE = BASE_COMMON + CAPITAL + VERB + REPEATED + IN_TITLE
# Verbs that follow a company in English news ("Hekla said", "Delta opens").
COMPANY_VERBS = frozenset(
    """said says announced announces reported reports opened opens opening launched launches
    acquired acquires acquiring bought buys signed signs won wins hired hires plans planned
    expands expanded expanding raised raises posted posts agreed agrees named names appointed
    appoints unveiled unveils completed completes delivered delivers confirmed confirms
    cut cuts recalled recalls sued sues filed files""".split()
)
_QUOTES = set("\"'«»“”„‘’‹›()[]")


@dataclass(frozen=True, slots=True)
class Form:
    """One way a company is written: its name or an alias."""

    company_id: str
    text: str
    words: tuple[str, ...]  # folded, as the tokenizer would split them on spaces
    legal: bool  # ends or starts with a legal form ("Össur hf.", "ТОВ Дельта")
    capitalised: bool  # has capitals, so a lower-case occurrence is an ordinary word
    own: bool = False  # the company's domain spells it ("marel.com", "kyivstar.ua")
    shared: bool = False  # an exclude phrase has another thing called by it ("Mount Hekla")

    @classmethod
    def of(cls, company: Company, text: str) -> Form | None:
        words = tuple(fold(text).split())
        if not words or len(" ".join(words)) < 2:
            return None
        legal = legal_form(text.split()[-1]) or legal_form(text.split()[0])
        capitalised = any(c.isupper() for c in text)
        return cls(
            company.id,
            text.strip(),
            words,
            legal,
            capitalised,
            own=own_name(company, text),
            shared=name_shared(company),
        )

    def ordinariness(self, language: str) -> float:
        """How much of an everyday word this form is (Zipf). Digits or a legal form make a
        name distinctive; so do several capitalised words, unless every one of them is an
        everyday word ("New York", "Blue Summit"): those are known, but not unmistakable.
        In the article's own language a name's frequency counts the name itself ("Marel"
        is frequent in Icelandic news): where the name is the company's own — its domain
        spells it, or it is a coined brand ("Icelandair") — and no namesake shares it, only
        English, which has no such bias, says how ordinary it is."""
        if self.legal or any(not (c.isalpha() or c.isspace() or c in "'’.") for c in self.text):
            return 0.0  # digits or symbols ("3M", "H&M", "Coca-Cola"): no everyday word
        words = self.text.split()
        scores = [commonness(w, "en" if self.distinctive(language) else language) for w in words]
        if len(scores) > 1 and self.capitalised:
            return UNCOMMON if min(scores) >= COMMON else 0.0
        return max(scores)

    def distinctive(self, language: str) -> bool:
        """The company's own name, not a word nor another thing's name: its domain spells
        it or it is a coined brand, and no exclude phrase shares it."""
        words = self.text.split()
        return not self.shared and (self.own or (len(words) == 1 and coined(words[0], language)))


def own_name(company: Company, text: str) -> bool:
    """The company's domain spells this name, or spells the same one-word name in another
    script: "Ամերիաբանկ" is the "Ameriabank" of ameriabank.am."""
    if spelled_by_domain(text, company.domain):
        return True
    if len(text.split()) > 1:
        return False
    return any(
        len(other.split()) == 1
        and _script(other) != _script(text)
        and spelled_by_domain(other, company.domain)
        for other in (company.name, *company.aliases)
    )


def _script(text: str) -> str:
    letter = next((c for c in text if c.isalpha()), "")
    return unicodedata.name(letter, "").split(" ")[0]


def spelled_by_domain(text: str, domain: str | None) -> bool:
    """'Marel' and marel.com, 'Wizz Air' and wizzair.com, 'Київстар' and kyivstar.ua."""
    if not domain:
        return False
    host = domain.lower().split("//")[-1].split("/")[0].removeprefix("www.")
    label = host.split(".")[0]
    spellings = (fold(text), transliterate(text), strip_accents(text).lower())
    return any("".join(c for c in s if c.isalnum()) == label for s in spellings)


def name_shared(company: Company) -> bool:
    """The account manager named another thing that is called by the company's name alone:
    an exclude phrase with the name after another word ("Mount Hekla", "varðskipið Ægir",
    "ФК «Карпати»", "Suzanne Vega"). A phrase that starts with the name ("Delta Air Lines",
    "Össur Skarphéðinsson") is a longer name, which the matcher tells apart by itself."""
    names = [tuple(_words(text)) for text in (company.name, *company.aliases)]
    for phrase in company.exclude:
        later = _words(phrase)[1:]
        for name in names:
            if name and any(tuple(later[i : i + len(name)]) == name for i in range(len(later))):
                return True
    return False


def _words(text: str) -> list[str]:
    return "".join(c if c.isalnum() else " " for c in fold(text)).split()


@dataclass
class Article:
    title: str
    text: str  # title and body, the title first
    link: str
    language: str
    _phrases: dict[tuple[str, ...], bool] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, title: str, body: str, link: str, language: str) -> Article:
        title = " ".join(title.split())
        text = f"{title}\n\n{body}" if title else body
        return cls(title, text, link, language.split("-")[0].lower())

    @property
    def has_title(self) -> bool:
        return bool(self.title)

    @cached_property
    def spans(self) -> list[tuple[int, int]]:
        """Sentences, the title first when there is one (only worked out for an article
        where the prefilter found something)."""
        spans = sentence_spans(self.text)
        if self.title:  # the title is one sentence, however it is punctuated
            spans = [(0, len(self.title))] + [(s, e) for s, e in spans if s >= len(self.title)]
        return spans

    @cached_property
    def folded(self) -> str:
        return fold(self.text)

    @cached_property
    def starts(self) -> list[int]:
        return [start for start, _ in self.spans]

    @cached_property
    def title_case_only(self) -> bool:
        words = self.title.split()
        return mostly_upper(words) or title_cased(words)

    def sentence(self, index: int) -> str:
        start, end = self.spans[index]
        return " ".join(self.text[start:end].split())

    def mentions_any(self, phrases: Iterable[str]) -> bool:
        key = tuple(phrases)
        if key not in self._phrases:  # once per article: weighing asks per occurrence
            self._phrases[key] = any(_contains(self.folded, fold(p)) for p in key if p.strip())
        return self._phrases[key]


class SentenceFacts:
    """What every occurrence in one sentence asks about it, worked out once."""

    def __init__(self, doc: Doc) -> None:
        self.doc = doc
        self._nouns: list[int] | None = None

    @cached_property
    def upper(self) -> bool:
        return mostly_upper([t.text for t in self.doc])

    @cached_property
    def folded(self) -> str:
        return fold(self.doc.text)

    def company_nouns(self, language: str) -> list[int]:
        if self._nouns is None:
            self._nouns = [t.i for t in self.doc if noun_in(fold(t.text), COMPANY_NOUNS, language)]
        return self._nouns


@dataclass
class Occurrence:
    form: Form
    doc: Doc  # the sentence, tokenized
    start: int  # token span
    end: int
    sentence: int  # index in Article.spans
    facts: SentenceFacts  # shared by the occurrences in one sentence
    entity: str | None = None  # a trained pipeline's entity label over it, when one is used

    @property
    def span(self) -> Span:
        return self.doc[self.start : self.end]


def weigh(occurrence: Occurrence, company: Company, article: Article) -> float:
    """Confidence that this occurrence means `company`."""
    form, span = occurrence.form, occurrence.span
    if form.capitalised and not _cased_like_a_name(span):
        return 0.0  # "the delta", "apple harvest"
    if _excluded(occurrence, company, article):
        return 0.0  # the account manager said this phrase is not them
    headline = _headline(occurrence, article)
    at_start = _starts_sentence(occurrence)
    case_speaks = not headline and not at_start
    if not headline and _inside_longer_name(occurrence, case_speaks):
        return 0.0  # "Delta Air Lines", "Mount Hekla", "Summit Partners"
    ordinariness = (
        _ordinariness_at_start(form, article.language)
        if at_start
        else form.ordinariness(article.language)
    )
    score = base_score(ordinariness)
    if case_speaks or (not headline and _no_word(form, ordinariness, article.language)):
        score += CAPITAL  # a capital where a plain word would have none
    if form.legal or _legal_form_beside(occurrence):
        score += LEGAL
    score += _context(company, article)
    if domain_in(company, article):
        score += DOMAIN
    score += _described(occurrence, article.language)
    if article.language == "en" and _verb_follows(occurrence):
        score += VERB
    if occurrence.entity == "ORG":
        score += ORG_ENTITY
    elif occurrence.entity in OTHER_ENTITIES:
        score += OTHER_ENTITY  # the pipeline reads it as a place, a person...
    if len(form.words) == 1 and _inflected(occurrence):
        score += INFLECTED  # "Heklu", "Deltánál": a stem alone is a little less certain
    return max(0.0, min(1.0, score))


def _ordinariness_at_start(form: Form, language: str) -> float:
    """At a sentence's start a capital says nothing, so a name that may be an everyday
    compound of the language ("Eimskip", a steamship) is weighed as the word it may be."""
    ordinariness = form.ordinariness(language)
    if len(form.words) == 1 and everyday_compound(form.text, language):
        return max(ordinariness, commonness(form.text, language))
    return ordinariness


def _no_word(form: Form, ordinariness: float, language: str) -> bool:
    """A sentence's first word is capitalised whatever it is; but a name that is no everyday
    word ("Icelandair", "Київстару") could not be anything else there either. Where no word
    list knows the language (Estonian, Armenian), only a distinctive name is known to be one."""
    return ordinariness < UNCOMMON and (has_word_list(language) or form.distinctive(language))


def base_score(ordinariness: float) -> float:
    if ordinariness < UNCOMMON:
        return BASE_RARE
    return BASE_UNCOMMON if ordinariness < COMMON else BASE_COMMON


def _context(company: Company, article: Article) -> float:
    """The company's context words in the article: words of its trade say much; place names
    (written with a capital) say little, since namesakes share their places (the volcano
    Hekla is in Iceland too)."""
    trade = [w for w in company.context if not w[:1].isupper()]
    if article.mentions_any(trade):
        return CONTEXT
    places = [w for w in company.context if w[:1].isupper()]
    return PLACE_CONTEXT if article.mentions_any(places) else 0.0


def domain_in(company: Company, article: Article) -> bool:
    if not company.domain:
        return False
    domain = fold(company.domain)
    return article.mentions_any((domain,)) or domain in fold(article.link)


def combine(
    occurrences: list[Occurrence], companies: Mapping[str, Company], article: Article
) -> dict[str, tuple[float, str]]:
    """Per company: the best occurrence's confidence, a little more when the story repeats
    the name or has it in the title, and the sentence it stands in."""
    best: dict[str, tuple[float, str]] = {}
    counts: dict[str, int] = {}
    in_title: set[str] = set()
    for occurrence in occurrences:
        company_id = occurrence.form.company_id
        confidence = weigh(occurrence, companies[company_id], article)
        if confidence <= 0:
            continue
        counts[company_id] = counts.get(company_id, 0) + 1
        if article.has_title and occurrence.sentence == 0:
            in_title.add(company_id)
        # The best occurrence; at a tie the body's sentence, which says more than the title.
        better = company_id not in best or confidence > best[company_id][0]
        tie = company_id in best and confidence == best[company_id][0]
        if better or (tie and company_id in in_title and occurrence.sentence > 0):
            best[company_id] = (confidence, article.sentence(occurrence.sentence))
    for company_id, (confidence, sentence) in best.items():
        bonus = REPEATED * (counts[company_id] > 1) + IN_TITLE * (company_id in in_title)
        best[company_id] = (min(1.0, confidence + bonus), sentence)
    return best


def _cased_like_a_name(span: Span) -> bool:
    """A name starts with a capital; "the delta" and "apple harvest" do not."""
    first = next((t.text for t in span if any(c.isalpha() for c in t.text)), "")
    return is_capitalised(first)


def _headline(occurrence: Occurrence, article: Article) -> bool:
    """In a headline written in capitals or Title Case, capitals say nothing."""
    if article.has_title and occurrence.sentence == 0 and article.title_case_only:
        return True
    return occurrence.facts.upper


def _starts_sentence(occurrence: Occurrence) -> bool:
    first_word = next((t.i for t in occurrence.doc if t.text not in _QUOTES and not t.is_punct), 0)
    return occurrence.start <= first_word


def _inside_longer_name(occurrence: Occurrence, case_speaks: bool) -> bool:
    """Part of a longer proper noun: a capitalised word right after it (a capital that is
    not the sentence's first), or right before it when that one is not the first word."""
    doc, start, end = occurrence.doc, occurrence.start, occurrence.end
    if end < len(doc) and _name_word(doc[end].text) and not legal_form(doc[end].text):
        return True
    if not case_speaks or start == 0:
        return False
    before = doc[start - 1]
    first_word = next((t.i for t in doc if not t.is_punct), 0)
    return before.i > first_word and _name_word(before.text) and not legal_form(before.text)


def _name_word(text: str) -> bool:
    return len(text) > 1 and text[0].isupper() and any(c.islower() for c in text[1:])


def _legal_form_beside(occurrence: Occurrence) -> bool:
    doc = occurrence.doc
    near = [doc[i].text for i in (occurrence.end, occurrence.end + 1) if i < len(doc)]
    near += [doc[i].text for i in (occurrence.start - 1, occurrence.start - 2) if i >= 0]
    return any(legal_form(word) for word in near)


def _described(occurrence: Occurrence, language: str) -> float:
    """What the words around the name say it is: "Shell, the Leicester carton maker" (+);
    "Hekla, one of Iceland's most active volcanoes", "the Nimbus weather satellites" (-)."""
    doc, end = occurrence.doc, occurrence.end
    after = [fold(t.text) for t in doc[end : end + 9]]
    appositive = after[:1] == [","]
    window = after[1:] if appositive else after[:2]
    for word in window:
        if word in {".", ";", ":", ",", "!", "?"}:
            break
        if noun_in(word, OTHER_NOUNS, language):
            return OTHER_NOUN
        if noun_in(word, COMPANY_NOUNS, language):
            return COMPANY_NOUN_BESIDE
    nouns = occurrence.facts.company_nouns(language)
    in_sentence = any(i < occurrence.start or i >= end for i in nouns)
    return COMPANY_NOUN_IN_SENTENCE if in_sentence else 0.0


def _inflected(occurrence: Occurrence) -> bool:
    """Written with a case ending glued on (not after a hyphen or an apostrophe); compared
    without spaces, since a tokenizer may split a name ("3M", "Coca-Cola")."""
    written = "".join(fold(occurrence.span.text).split())
    name = "".join(occurrence.form.words)
    return written != name and written.split("-", 1)[0].rstrip('»"”') != name


def _excluded(occurrence: Occurrence, company: Company, article: Article) -> bool:
    sentence = occurrence.facts.folded
    name = fold(occurrence.span.text)
    return any(name in fold(p) and _contains(sentence, fold(p)) for p in company.exclude)


def _verb_follows(occurrence: Occurrence) -> bool:
    doc, end = occurrence.doc, occurrence.end
    following = [
        t
        for t in doc[end : end + 4]
        if t.text not in ("'s", "’s", ",", ".") and not legal_form(t.text)
    ]
    return bool(following) and following[0].lower_ in COMPANY_VERBS


def _contains(folded_text: str, folded_phrase: str) -> bool:
    """`folded_phrase` as whole words in `folded_text`; its last word may take an ending of
    up to four letters ("logistics" in "logisticsnál", "Reykjavík" in "Reykjavíkur")."""
    start = folded_text.find(folded_phrase)
    while start != -1:
        end = start + len(folded_phrase)
        ending = end
        while ending < len(folded_text) and folded_text[ending].isalnum():
            ending += 1
        if (start == 0 or not folded_text[start - 1].isalnum()) and ending - end <= 4:
            return True
        start = folded_text.find(folded_phrase, start + 1)
    return False
