"""Find client companies in news text: a gazetteer matcher that prefers silence to a wrong
congratulation.

How a text is read:
1. A multi-pattern prefilter (Aho-Corasick over case- and accent-folded text) finds the
   sentences that could hold a name at all; nothing else is tokenized.
2. Those sentences go through spaCy's blank tokenizer for the feed's language and a
   PhraseMatcher built once from every name and alias (plus name stems, for languages that
   inflect names: "Heklu", "a Deltánál", "«Агросвіту»").
3. Each occurrence is weighed (`scoring.py`): how ordinary the name is as a word, its case
   where case means something, legal forms, the company's context words and domain, the
   account manager's exclude phrases, whether it is just part of a longer proper noun
   ("Delta Air Lines", "Mount Hekla"), and where it stands.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import ahocorasick
import spacy
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc

from outreach.adapters.mentions.lexicon import (
    CASE_ENDINGS,
    COMPANY_NOUNS,
    INFLECTING,
    fold,
    legal_form,
    noun_in,
    strip_accents,
)
from outreach.adapters.mentions.scoring import (
    COMMON,
    COMMON_WITHOUT_EVIDENCE,
    MIN_CONFIDENCE,
    Article,
    Form,
    Occurrence,
    SentenceFacts,
    combine,
    domain_in,
)
from outreach.core.model import Company

MIN_STEM = 3  # "Ægi" from "Ægir"; shorter stems match too much
MAX_ENDING = 6  # letters an inflection may add: "Deltánál", "Agrosvitu"


@dataclass(frozen=True, slots=True)
class Found:
    company_id: str
    sentence: str
    confidence: float


@dataclass
class _Pipeline:
    language: str
    nlp: Language
    matcher: PhraseMatcher
    form_tokens: dict[int, tuple[str, ...]]  # each form as this tokenizer splits it, folded

    def tokens(self, form: Form, index: int) -> tuple[str, ...]:
        if index not in self.form_tokens:
            self.form_tokens[index] = tuple(fold(t.text) for t in self.nlp.make_doc(form.text))
        return self.form_tokens[index]


class MentionFinder:
    """Built once from the client list; `find` is then safe to call for every article."""

    def __init__(
        self,
        companies: Iterable[Company],
        min_confidence: float = MIN_CONFIDENCE,
        entities: Language | None = None,
    ):
        """`entities`: an optional trained spaCy pipeline whose entities (ORG, or a place or
        person over the name) add evidence; the matcher needs none."""
        self.companies = {c.id: c for c in companies}
        self.min_confidence = min_confidence
        self.entities = entities
        self.forms = [form for c in self.companies.values() for form in _forms(c)]
        self.stems: dict[str, list[int]] = {}
        self.automaton = ahocorasick.Automaton()
        for index, form in enumerate(self.forms):
            self._index(index, form)
        if self.forms:
            self.automaton.make_automaton()
        self._pipelines: dict[str, _Pipeline] = {}

    def _index(self, index: int, form: Form) -> None:
        stem = _stem(form.words[0])
        if stem is not None:  # names inflect: "Heklu Seafood", "a Deltánál", "«Світанку»"
            for key in (stem, *_alternate_stems(form.words[0])):
                self.stems.setdefault(key, []).append(index)
        for key in _prefilter_keys(form):
            if key not in self.automaton:
                self.automaton.add_word(key, (len(key), []))
            self.automaton.get(key)[1].append(index)

    def find(self, text: str, language: str = "xx", title: str = "", link: str = "") -> list[Found]:
        """Companies mentioned in an article (title and text), most confident first."""
        if not self.forms:
            return []
        article = Article.of(title, text, link, language)
        sentences = self._candidate_sentences(article)
        if not sentences:
            return []
        occurrences = [o for index in sentences for o in self._occurrences(article, index)]
        found = combine(occurrences, self.companies, article)
        return sorted(
            (Found(c, s, round(p, 3)) for c, (p, s) in found.items() if p >= self.min_confidence),
            key=lambda f: (-f.confidence, f.company_id),
        )

    def _candidate_sentences(self, article: Article) -> list[int]:
        """Sentences where a name's first word (or its stem) starts a word, written the way
        a name is: capitalised or in capitals. Lower-case "delta" is never a name here, so
        sentences that have only that are not even tokenized."""
        text = article.text
        hits: list[tuple[int, Form]] = []
        for end, (length, forms) in self.automaton.iter(text):
            begin = end - length + 1
            if begin == 0 or not text[begin - 1].isalnum():
                hits += [
                    (begin, self.forms[i])
                    for i in forms
                    if self._could_start(article, begin, self.forms[i])
                ]
        if not hits:
            return []
        # A company none of whose hits has any evidence cannot reach the threshold (see
        # COMMON_WITHOUT_EVIDENCE, which counts the repetition and title bonuses too).
        strong: set[str] = set()
        cues: dict[int | str, bool] = {}  # per sentence, and per company: any evidence
        for begin, form in hits:
            if form.company_id not in strong and self._worth_reading(article, begin, form, cues):
                strong.add(form.company_id)
        return sorted(
            {
                bisect_right(article.starts, begin) - 1
                for begin, form in hits
                if form.company_id in strong
            }
        )

    def _worth_reading(
        self, article: Article, begin: int, form: Form, cues: dict[int | str, bool]
    ) -> bool:
        """Whether this hit could make its company reach the threshold: yes, unless the name
        is an everyday word and nothing around says "company" (see COMMON_WITHOUT_EVIDENCE)."""
        if self.entities is not None:  # an ORG entity is evidence the shortcut cannot see
            return True
        if self.min_confidence <= COMMON_WITHOUT_EVIDENCE or len(form.words) > 1 or form.legal:
            return True
        if form.ordinariness(article.language) < COMMON:
            return True
        company = self.companies[form.company_id]
        if company.id not in cues:
            cues[company.id] = article.mentions_any(company.context) or domain_in(company, article)
        if cues[company.id]:
            return True
        index = bisect_right(article.starts, begin) - 1
        if index not in cues:
            start, end = article.spans[index]
            words = [w.strip('.,;:!?«»"()') for w in article.text[start:end].split()]
            cues[index] = any(
                legal_form(w) or noun_in(fold(w), COMPANY_NOUNS, article.language) for w in words
            )
        return cues[index]

    def _could_start(self, article: Article, begin: int, form: Form) -> bool:
        """Whether the rest of a multi-word name follows its first word here ("Global" is
        often just a word; "Global Robotics" is the name), without tokenizing anything."""
        if len(form.words) == 1:
            return True
        nearby = article.folded[begin : begin + len(form.text) + 2 * MAX_ENDING]
        if article.language not in INFLECTING:
            return nearby.startswith(" ".join(form.words))
        rest = nearby[len(_stem(form.words[0]) or form.words[0]) :]
        return all(
            any(stem in rest for stem in (_stem(word) or word, *_alternate_stems(word)))
            for word in form.words[1:]
        )

    def _occurrences(self, article: Article, index: int) -> Iterator[Occurrence]:
        start, end = article.spans[index]
        pipeline = self._pipeline(article.language)
        doc = pipeline.nlp.make_doc(article.text[start:end])
        matches = [(s, e, int(pipeline.nlp.vocab.strings[m])) for m, s, e in pipeline.matcher(doc)]
        if article.language in INFLECTING:
            matches += self._inflected(doc, pipeline, {(s, e) for s, e, _ in matches})
        labels = self._entity_labels(doc.text) if matches and self.entities is not None else []
        facts = SentenceFacts(doc)
        for s, e, form_index in _longest_first(matches):
            span = doc[s:e]
            entity = next(
                (label for a, b, label in labels if a < span.end_char and span.start_char < b), None
            )
            yield Occurrence(self.forms[form_index], doc, s, e, index, facts, entity)

    def _entity_labels(self, text: str) -> list[tuple[int, int, str]]:
        assert self.entities is not None
        return [(e.start_char, e.end_char, e.label_) for e in self.entities(text).ents]

    def _inflected(
        self, doc: Doc, pipeline: _Pipeline, exact: set[tuple[int, int]]
    ) -> list[tuple[int, int, int]]:
        """Capitalised words that are a name's stem plus a short ending, word by word."""
        found = []
        for token in doc:
            word = fold(token.text)
            if not token.text[:1].isupper() or len(word) < MIN_STEM:
                continue
            for cut in range(max(MIN_STEM, len(word) - MAX_ENDING), len(word) + 1):
                for form_index in self.stems.get(word[:cut], ()):
                    words = pipeline.tokens(self.forms[form_index], form_index)
                    end = _inflected_span(doc, token.i, words, pipeline.language)
                    if end is not None and (token.i, end) not in exact:
                        found.append((token.i, end, form_index))
        return found

    def _pipeline(self, language: str) -> _Pipeline:
        if language not in self._pipelines:
            self._pipelines[language] = self._build(language)
        return self._pipelines[language]

    def _build(self, language: str) -> _Pipeline:
        try:
            nlp = spacy.blank(language)
        except (ImportError, KeyError, ValueError):
            nlp = spacy.blank("xx")  # multi-language tokenizer for the rest
        matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        for index, form in enumerate(self.forms):
            patterns = {form.text, " ".join(form.words)}  # as written, and without accents
            matcher.add(str(index), [nlp.make_doc(pattern) for pattern in sorted(patterns)])
        return _Pipeline(language, nlp, matcher, {})


def _forms(company: Company) -> Iterator[Form]:
    seen: set[tuple[str, ...]] = set()
    for text in (company.name, *company.aliases):
        form = Form.of(company, text)
        if form is not None and form.words not in seen:
            seen.add(form.words)
            yield form


def _prefilter_keys(form: Form) -> set[str]:
    """How a form's first word (or its stem) can appear in text as a name: as written, in
    capitals, and without accents ("Össur", "ÖSSUR", "Ossur", "OSSUR")."""
    first = form.text.split()[0]
    words = {first}
    stem = _stem(form.words[0])
    if stem is not None and len(first) > len(stem):
        words.add(first[: len(stem)])  # the stem, with the name's own capitals
        words |= {first[0] + alternate[1:] for alternate in _alternate_stems(first.lower())}
    keys = set()
    for word in words:
        for variant in (word, strip_accents(word)):
            keys |= {variant, variant.upper(), variant[:1].upper() + variant[1:]}
    return {key for key in keys if key}


def _stem(word: str) -> str | None:
    """The part of a name's word that inflection keeps: all but its final letter."""
    if len(word) <= MIN_STEM or not word.isalpha():
        return None
    return word[:-1]


def _inflected_span(
    doc: Doc, first: int, words: tuple[str, ...], language: str = "xx"
) -> int | None:
    """End of the span when the tokens from `first` are `words`, each as written or as its
    stem plus a short ending (or a hyphenated one: "Armlogic-ը", "Kft.-vel")."""
    if first + len(words) > len(doc):
        return None
    for offset, word in enumerate(words):
        if not word_matches(fold(doc[first + offset].text), word, language):
            return None
    return first + len(words)


def word_matches(token: str, word: str, language: str = "xx") -> bool:
    """`token` is `word`, or `word` with a case ending of `language` (after the whole word,
    after its stem with the last letter changed, or after a stem whose last vowel drops or
    alternates: "Heklu", "Deltánál", "Ægis", "Marellel", "Tallinkiga", "Світанку")."""
    if token == word:
        return True
    head = token.split("-", 1)[0].rstrip('»"”')
    if head == word:
        return True
    endings = CASE_ENDINGS.get(language)
    if endings and token.startswith(word) and _ending(token[len(word) :], word, endings, language):
        return True
    stem = _stem(word)
    if stem is None or len(token) - len(stem) > MAX_ENDING:
        return False
    if endings is None:  # a language we know no endings of: any short one after the stem
        return token.startswith(stem)
    if not token.startswith(stem):
        alternates = _alternate_stems(word)
        return any(token.startswith(a) and token[len(a) :] in endings for a in alternates)
    after_stem = token[len(stem) :]
    dropped = after_stem == "" and word[-1:] in "rs"  # Icelandic "Ægir" -> "Ægi"
    return len(after_stem) == 1 or after_stem[1:] in endings or dropped


def _ending(after: str, word: str, endings: frozenset[str], language: str) -> bool:
    """A case ending after a whole word; in Hungarian -val/-vel and -vá/-vé take the shape
    of the word's last consonant ("Marellel", "Richterrel"); in Estonian the case endings
    follow the genitive's vowel ("Tallinkiga", "Tallinkile")."""
    if after in endings:
        return True
    if language == "hu" and word[-1:] not in _VOWELS and after[:1] == word[-1:]:
        return after[1:] in ("al", "el", "a", "e")
    if language == "et" and after[:1] in ("a", "e", "i", "u"):
        return after[1:] in endings
    return False


_VOWELS = frozenset("aeiouyаеєиіїоуюяыэё")


def _alternate_stems(word: str) -> tuple[str, ...]:
    """Stems a name takes when its last vowel drops ("Світанок" -> "Світанку", "Mööbel" ->
    "Mööbli", "Hamar" -> "Hamri") or, in Ukrainian, turns і into о or е ("Промінь" ->
    "Променя", "Харків" -> "Харкова"): each takes a case ending as it is."""
    bare = word[:-1] if word.endswith("ь") else word
    if len(bare) < MIN_STEM + 2 or not bare.isalpha():
        return ()
    before, vowel, last = bare[-3], bare[-2], bare[-1]
    if before in _VOWELS or vowel not in _VOWELS or last in _VOWELS:
        return ()
    start = bare[:-2]
    if vowel == "і":
        return (start + "о" + last, start + "е" + last)
    return (start + last,)


def _longest_first(matches: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Overlapping matches: the longest wins ("Blue Summit Hotels" over "Summit")."""
    kept: list[tuple[int, int, int]] = []
    taken: set[int] = set()
    for s, e, index in sorted(matches, key=lambda m: (-(m[1] - m[0]), m[0])):
        if taken.isdisjoint(range(s, e)):
            kept.append((s, e, index))
            taken.update(range(s, e))
    return sorted(kept)
