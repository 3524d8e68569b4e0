"""Precision and recall of the company-mention matcher.

    python benchmarks/mention_quality.py [--set tests/data/mentions] [--conll PATH]
                                         [--min-confidence 0.7] [--errors] [--conll-no-title]

1. The project's labelled set (``companies.yaml`` + ``labelled.jsonl``): every item goes through
   ``MentionFinder.find(text, language, title)``; precision, recall and F1 are counted over
   (item, company) pairs, overall and per language. ``--errors`` lists every false positive and
   false negative with the item's text.
2. CoNLL++ dev (English Reuters newswire, 1996-97; research use only, never copied into the
   project). The client list is built at run time from the data: every ORG span string that
   occurs at least twice in the split becomes a company with only a name (no aliases, context or
   exclude phrases). Gold per document: the clients whose exact string is an ORG span in it.
   Each document's text is its sentences (tokens joined by spaces) joined by newlines; by default
   the first sentence (the headline) is passed as the title and the rest as the text.
   Skipped, with a message, when the file is not there.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from outreach.adapters.mentions import MentionFinder
from outreach.adapters.sources.data import load_companies
from outreach.core.model import Company

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SET = REPO / "tests" / "data" / "mentions"
DEFAULT_CONLL = (
    Path(__file__).resolve().parents[2] / "shared/eval-data/conllpp-news-ner/conllpp_dev.txt"
)
MIN_ORG_COUNT = 2
TOP = 15


@dataclass
class Score:
    """Counts over (item, company) pairs."""

    items: int = 0
    gold: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, gold: set[str], predicted: set[str]) -> None:
        self.items += 1
        self.gold += len(gold)
        self.tp += len(gold & predicted)
        self.fp += len(predicted - gold)
        self.fn += len(gold - predicted)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Item:
    id: str
    language: str
    title: str
    text: str
    gold: set[str]
    namesakes: set[str] = field(default_factory=set)


def print_table(rows: Sequence[tuple[str, Score]]) -> None:
    header = f"{'':<8} {'items':>6} {'gold':>5} {'TP':>5} {'FP':>5} {'FN':>5}"
    print(f"{header} {'precision':>9} {'recall':>7} {'F1':>6}")
    for name, s in rows:
        counts = f"{name:<8} {s.items:>6} {s.gold:>5} {s.tp:>5} {s.fp:>5} {s.fn:>5}"
        print(f"{counts} {s.precision:>9.3f} {s.recall:>7.3f} {s.f1:>6.3f}")


# --- 1. the project's labelled set -------------------------------------------------------------


def load_items(path: Path) -> list[Item]:
    items = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            raw = json.loads(line)
            items.append(
                Item(
                    raw["id"],
                    raw["language"],
                    raw.get("title", ""),
                    raw["text"],
                    set(raw["companies"]),
                    set(raw.get("namesakes", [])),
                )
            )
    return items


def labelled_set(folder: Path, min_confidence: float, errors: bool) -> None:
    companies, problems = load_companies(folder / "companies.yaml", "companies.yaml")
    if problems:
        sys.exit(f"mention_quality: {folder / 'companies.yaml'} has problems: {problems}")
    items = load_items(folder / "labelled.jsonl")
    start = time.perf_counter()
    finder = MentionFinder(companies.values(), min_confidence=min_confidence)
    build = time.perf_counter() - start

    overall = Score()
    by_language: dict[str, Score] = defaultdict(Score)
    namesake_fp: Counter[str] = Counter()
    company_fp: Counter[str] = Counter()
    company_fn: Counter[str] = Counter()
    mistakes: list[tuple[str, str, Item, str]] = []
    start = time.perf_counter()
    for item in items:
        found = finder.find(item.text, item.language, item.title)
        predicted = {f.company_id for f in found}
        overall.add(item.gold, predicted)
        by_language[item.language].add(item.gold, predicted)
        sentences = {f.company_id: f"{f.sentence}  [{f.confidence:.2f}]" for f in found}
        for cid in sorted(predicted - item.gold):
            company_fp[cid] += 1
            if cid in item.namesakes:
                namesake_fp[cid] += 1
            mistakes.append(("FP", cid, item, sentences[cid]))
        for cid in sorted(item.gold - predicted):
            company_fn[cid] += 1
            mistakes.append(("FN", cid, item, ""))
    match = time.perf_counter() - start

    print(f"== Labelled set: {folder.relative_to(REPO) if folder.is_relative_to(REPO) else folder}")
    print(
        f"{len(companies)} companies, {len(items)} items, {overall.gold} gold pairs, "
        f"{len(items) * len(companies)} scored pairs; min_confidence {min_confidence}"
    )
    print(f"build {build:.2f}s, matching {match:.2f}s\n")
    languages = sorted(by_language, key=lambda lang: (-by_language[lang].items, lang))
    print_table([*((lang, by_language[lang]) for lang in languages), ("all", overall)])
    print()
    hard = sum(namesake_fp.values())
    print(f"false positives on a labelled namesake: {hard} of {overall.fp}")
    if company_fp:
        print("FP by company: " + ", ".join(f"{c} {n}" for c, n in company_fp.most_common()))
    if company_fn:
        print("FN by company: " + ", ".join(f"{c} {n}" for c, n in company_fn.most_common()))
    if errors:
        print()
        for kind, cid, item, sentence in mistakes:
            print(f"{kind} {cid:<14} {item.id} [{item.language}]")
            if item.title:
                print(f"    title: {item.title}")
            print(f"    text:  {item.text}")
            if sentence:
                print(f"    found: {sentence}")
    print()


# --- 2. CoNLL++ --------------------------------------------------------------------------------


@dataclass
class Document:
    sentences: list[list[str]]
    orgs: list[str]  # ORG span strings, in order, repeats kept

    def text(self) -> str:
        return "\n".join(" ".join(tokens) for tokens in self.sentences)


def parse_conll(path: Path) -> list[Document]:
    """CoNLL-2003 columns `token POS chunk NER` (NER is the last, IOB2); documents start at
    `-DOCSTART-`, sentences end at a blank line."""
    documents: list[Document] = []
    tokens: list[str] = []
    tags: list[str] = []

    def end_sentence() -> None:
        if tokens and documents:
            documents[-1].sentences.append(list(tokens))
            documents[-1].orgs.extend(org_spans(tokens, tags))
        tokens.clear()
        tags.clear()

    with path.open(encoding="utf-8") as f:
        for line in f:
            columns = line.split()
            if not columns:
                end_sentence()
            elif columns[0] == "-DOCSTART-":
                end_sentence()
                documents.append(Document([], []))
            else:
                if not documents:
                    documents.append(Document([], []))
                tokens.append(columns[0])
                tags.append(columns[-1])
    end_sentence()
    return [d for d in documents if d.sentences]


def org_spans(tokens: Sequence[str], tags: Sequence[str]) -> Iterable[str]:
    span: list[str] = []
    for token, tag in zip(tokens, tags, strict=True):
        if tag == "B-ORG" or (tag == "I-ORG" and not span):
            if span:
                yield " ".join(span)
            span = [token]
        elif tag == "I-ORG":
            span.append(token)
        elif span:
            yield " ".join(span)
            span = []
    if span:
        yield " ".join(span)


def slug(name: str, taken: Mapping[str, str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "org"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def conll(path: Path, min_confidence: float, use_title: bool) -> None:
    print(f"== CoNLL++ dev: {path}")
    if not path.is_file():
        print(f"skipped: not found: {path}")
        return
    documents = parse_conll(path)
    counts = Counter(org for d in documents for org in d.orgs)
    clients = sorted(name for name, n in counts.items() if n >= MIN_ORG_COUNT)
    ids: dict[str, str] = {}  # id -> name
    by_name: dict[str, str] = {}
    for name in clients:
        cid = slug(name, ids)
        ids[cid] = name
        by_name[name] = cid
    companies = [Company(id=cid, name=name) for cid, name in ids.items()]
    folded = Counter(name.lower() for name in clients)
    case_twins = sum(n for n in folded.values() if n > 1)

    start = time.perf_counter()
    finder = MentionFinder(companies, min_confidence=min_confidence)
    build = time.perf_counter() - start
    score = Score()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    tp: Counter[str] = Counter()
    twin_fp = 0  # predicted a client whose other-cased twin is gold here ("REAL MADRID")
    start = time.perf_counter()
    for document in documents:
        gold = {by_name[o] for o in document.orgs if o in by_name}
        sentences = [" ".join(tokens) for tokens in document.sentences]
        if use_title:
            found = finder.find("\n".join(sentences[1:]), "en", sentences[0])
        else:
            found = finder.find("\n".join(sentences), "en")
        predicted = {f.company_id for f in found}
        score.add(gold, predicted)
        fp.update(ids[c] for c in predicted - gold)
        gold_folded = {ids[c].lower() for c in gold}
        twin_fp += sum(ids[c].lower() in gold_folded for c in predicted - gold)
        fn.update(ids[c] for c in gold - predicted)
        tp.update(ids[c] for c in gold & predicted)
    match = time.perf_counter() - start

    words = sum(len(tokens) for d in documents for tokens in d.sentences)
    print(
        f"{len(documents)} documents, {words} tokens, {sum(counts.values())} ORG spans, "
        f"{len(counts)} distinct ORG strings"
    )
    print(
        f"clients: {len(companies)} ORG strings seen as ORG >= {MIN_ORG_COUNT} times "
        f"(name only; {case_twins} of them differ from another client only in case)"
    )
    print(
        f"gold (document, company) pairs: {score.gold}; scored pairs: "
        f"{len(documents) * len(companies)}; title: "
        f"{'first sentence' if use_title else 'none (whole document as text)'}; "
        f"min_confidence {min_confidence}"
    )
    print(f"build {build:.2f}s, matching {match:.2f}s\n")
    print_table([("conll", score)])
    print(f"false positives whose other-cased twin is gold in the same document: {twin_fp}")
    print()
    print(f"{TOP} most frequent false positives (name: FP count, TP count):")
    print("  " + "; ".join(f"{n}: {k}, {tp[n]}" for n, k in fp.most_common(TOP)))
    print(f"{TOP} most frequent false negatives (name: FN count, TP count):")
    print("  " + "; ".join(f"{n}: {k}, {tp[n]}" for n, k in fn.most_common(TOP)))
    print()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", type=Path, default=DEFAULT_SET, help="labelled set folder")
    parser.add_argument("--conll", type=Path, default=DEFAULT_CONLL, help="CoNLL++ dev file")
    parser.add_argument("--min-confidence", type=float, default=0.7)
    parser.add_argument("--errors", action="store_true", help="list every FP and FN")
    parser.add_argument(
        "--conll-no-title",
        action="store_true",
        help="pass the whole CoNLL document as text (default: first sentence as the title)",
    )
    args = parser.parse_args(argv)
    labelled_set(args.set.resolve(), args.min_confidence, args.errors)
    conll(args.conll, args.min_confidence, not args.conll_no_title)


if __name__ == "__main__":
    main()
