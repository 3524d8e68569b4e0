"""The company-mention matcher: names found where they are names, and only there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from outreach.adapters.mentions import MentionFinder
from outreach.adapters.sources.data import load_companies
from outreach.core.model import Company

DATA = Path(__file__).resolve().parents[1] / "data" / "mentions"
CLIENTS = [
    Company(
        "delta",
        "Delta",
        aliases=("Delta Logistics",),
        context=("freight", "logistics"),
        exclude=("Delta Air Lines", "river delta"),
    ),
    Company(
        "ossur",
        "Össur",
        aliases=("Ossur", "Össur hf."),
        domain="ossur.com",
        context=("prosthetics",),
    ),
    Company("summit", "Summit", context=("facilities",), exclude=("G20 summit",)),
    Company("kestrel", "Kestrel Robotics", aliases=("Kestrel",)),
    Company(
        "hekla", "Hekla", aliases=("Hekla Seafood",), context=("seafood",), exclude=("Mount Hekla",)
    ),
    Company("blue-summit", "Blue Summit Hotels"),
]


@pytest.fixture(scope="module")
def finder() -> MentionFinder:
    return MentionFinder(CLIENTS)


def found(finder: MentionFinder, text: str, language: str = "en", title: str = "") -> set[str]:
    return {f.company_id for f in finder.find(text, language, title)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The freight forwarder Delta opened a hub in Rotterdam.", {"delta"}),
        ("Delta Air Lines added a route to Reykjavik.", set()),
        ("Rice farmers in the Mekong delta face drought.", set()),
        ("Delta variant cases rose again, officials said.", set()),
        ("Össur hf. reported record sales of prosthetic knees.", {"ossur"}),
        ("Shares in Ossur rose after the results.", {"ossur"}),
        ("Leaders met at the G20 summit in Rome.", set()),
        ("Summit, the facilities company, won a hospital contract.", {"summit"}),
        ("Summit talks resumed in Geneva.", set()),
        ("Kestrel Robotics raised $20m from investors.", {"kestrel"}),
        ("A kestrel hovered over the motorway verge.", set()),
        ("Scientists warned that Mount Hekla could erupt.", set()),
        ("Blue Summit Hotels was sold to a private equity firm.", {"blue-summit"}),
        ("DELTA LOGISTICS WINS PORT CONTRACT", {"delta"}),
    ],
)
def test_names_where_they_are_names(finder, text, expected):
    assert found(finder, text) == expected


def test_inflected_names_in_languages_that_inflect_them(finder):
    assert found(finder, "Forstjóri Heklu Seafood segir söluna hafa aukist.", "is") == {"hekla"}
    assert found(finder, "A Delta Logisticsnál megduplázódott a forgalom.", "hu") == {"delta"}


def test_a_mention_carries_its_sentence_and_confidence(finder):
    (mention,) = finder.find("Nothing here. Össur hf. opens a plant. Nothing there.", "en")
    assert mention.sentence == "Össur hf. opens a plant."
    assert 0.7 <= mention.confidence <= 1.0


def test_text_without_any_name_is_not_tokenized(finder):
    before = dict(finder._pipelines)
    assert finder.find("Weather: rain in the east, sun in the west.", "fr") == []
    assert finder._pipelines == before  # the prefilter said no: no French pipeline was built


def test_no_companies_no_mentions():
    assert MentionFinder([]).find("Delta opened a hub.") == []


def test_precision_and_recall_on_the_labelled_set():
    """The quality bar of the feature, on the set kept in tests/data/mentions (see its
    README). benchmarks/mention_quality.py prints the same figures per language."""
    companies, problems = load_companies(DATA / "companies.yaml", "companies.yaml")
    assert not problems
    finder = MentionFinder(companies.values())
    tp = fp = fn = 0
    for line in (DATA / "labelled.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        got = found(finder, item["text"], item["language"], item.get("title", ""))
        gold = set(item["companies"])
        tp, fp, fn = tp + len(got & gold), fp + len(got - gold), fn + len(gold - got)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    assert precision >= 0.95, f"precision {precision:.3f}"
    assert recall >= 0.90, f"recall {recall:.3f}"


def test_skipping_sentences_without_evidence_changes_no_result(monkeypatch):
    """The finder skips tokenizing sentences where an everyday-word name has no evidence;
    that must be a shortcut only: the same mentions, with the same confidences."""
    companies, _ = load_companies(DATA / "companies.yaml", "companies.yaml")
    items = [json.loads(line) for line in (DATA / "labelled.jsonl").open(encoding="utf-8")]

    def run() -> list[list[tuple[str, float, str]]]:
        finder = MentionFinder(companies.values())
        return [
            [
                (f.company_id, f.confidence, f.sentence)
                for f in finder.find(i["text"], i["language"], i.get("title", ""))
            ]
            for i in items
        ]

    fast = run()
    monkeypatch.setattr(MentionFinder, "_worth_reading", lambda *args: True)
    assert run() == fast


@pytest.mark.parametrize(
    ("word", "legal"),
    [
        ("hf.", True),
        ("ehf.", True),
        ("plc", True),
        ("GmbH", True),
        ("Kft.-vel", True),
        ("ТОВ", True),
        ("AS", True),
        ("Co.", True),
        ("as", False),
        ("sé", False),
        ("co", False),
        ("SE", True),
        ("at", False),
    ],
)
def test_legal_forms_are_case_aware_where_they_are_also_words(word, legal):
    from outreach.adapters.mentions.lexicon import legal_form

    assert legal_form(word) is legal


def test_a_trained_pipeline_adds_evidence_when_configured(tmp_path):
    """Optional NER evidence: an ORG entity over a name raises confidence, a place over it
    lowers it. A rule-based pipeline stands in for a trained one (no model is downloaded)."""
    import spacy

    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns(
        [{"label": "ORG", "pattern": "Kestrel"}, {"label": "GPE", "pattern": "Summit"}]
    )
    nlp.to_disk(tmp_path / "ner")
    loaded = spacy.load(tmp_path / "ner")
    text = "Analysts said Kestrel beat forecasts. Roads to Summit were closed, the company said."
    plain = {f.company_id: f.confidence for f in MentionFinder(CLIENTS, 0.0).find(text)}
    helped = {
        f.company_id: f.confidence for f in MentionFinder(CLIENTS, 0.0, entities=loaded).find(text)
    }
    assert helped["kestrel"] > plain["kestrel"]
    assert helped.get("summit", 0) < plain["summit"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("John Kestrel, a farmer from Selfoss, won the award.", set()),  # a person
        ("Summit Inc. reported record profits.", {"summit"}),  # a legal form, sentence start
        ("Delta Logistics Ltd. opened a hub.", {"delta"}),
        ("Leaders gathered in Dublin for the Summit on climate.", set()),
    ],
)
def test_review_cases(finder, text, expected):
    assert found(finder, text) == expected


def test_names_with_symbols_are_not_everyday_words():
    finder = MentionFinder(
        [Company("hm", "H&M"), Company("3m", "3M"), Company("coke", "Coca-Cola")]
    )
    assert found(finder, "H&M opens a store in Reykjavik.") == {"hm"}
    assert found(finder, "Analysts said 3M settled the lawsuit.") == {"3m"}
    assert found(finder, "Yesterday Coca-Cola opened a bottling plant.") == {"coke"}


def test_a_longer_name_is_not_an_inflection():
    finder = MentionFinder(
        [
            Company("marel", "Marel", context=("food processing",)),
            Company("aegir", "Ægir", aliases=("Ægir hf.",)),
        ]
    )
    assert found(finder, "Tegnap a Marelli új gyárat nyitott.", "hu") == set()
    assert found(finder, "Tegnap a Marelnél food processing gépet vettek.", "hu") == {"marel"}
    assert found(finder, "Útgerðin samdi við Ægi hf. um siglingatæki.", "is") == {"aegir"}


# Brands that are no everyday word, though frequent in their own language's news ("Marel" is
# as frequent in Icelandic text as "Hekla"); and namesakes that must still need evidence.
BRANDS = [
    Company("icelandair", "Icelandair", domain="icelandair.is"),
    Company("marel", "Marel", aliases=("Marel hf.",), domain="marel.com"),
    Company("kyivstar", "Київстар", aliases=("Kyivstar",), domain="kyivstar.ua"),
    Company("ukrzaliznytsia", "Укрзалізниця", domain="uz.gov.ua"),
    Company("eimskip", "Eimskip", domain="eimskip.is"),
    Company("ossur", "Össur", aliases=("Ossur",), domain="ossur.com"),
    Company("aegir", "Ægir", aliases=("Aegir",), domain="aegir.is", exclude=("varðskipið Ægir",)),
    Company(
        "hekla", "Hekla Seafood", aliases=("Hekla",), domain="hekla.is", exclude=("Mount Hekla",)
    ),
    Company("delta", "Delta", domain="delta.com"),
    Company("summit", "Summit", domain="summit.com"),
    Company("bolt", "Bolt", domain="bolt.eu"),
    Company("oracle", "Oracle", domain="oracle.com"),
    Company("svitanok", "Світанок", domain="svitanok-milk.ua"),
]


@pytest.fixture(scope="module")
def brands() -> MentionFinder:
    return MentionFinder(BRANDS)


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("Icelandair mun fljúga til fjögurra nýrra áfangastaða.", "is", {"icelandair"}),
        ("Marel segir upp 40 starfsmönnum.", "is", {"marel"}),
        ("Össur skilaði methagnaði í fyrra.", "is", {"ossur"}),
        ("Київстар підвищує тарифи з 1 липня.", "uk", {"kyivstar"}),
        ("Укрзалізниця скасувала нічний рейс до Ужгорода.", "uk", {"ukrzaliznytsia"}),
    ],
)
def test_a_brand_first_in_a_short_sentence_is_found(brands, text, language, expected):
    """Nothing else in the sentence says "company": the name itself does, being no word."""
    assert found(brands, text, language) == expected
    assert all(m.confidence >= 0.8 for m in brands.find(text, language))  # a rule's default


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("Абоненти Київстару скаржаться на перебої у Львові.", "uk", {"kyivstar"}),
        ("Мінцифри підписало меморандум з Київстаром.", "uk", {"kyivstar"}),
        ("Київстару дозволили використовувати нові частоти.", "uk", {"kyivstar"}),
        ("Голова правління Укрзалізниці подав у відставку.", "uk", {"ukrzaliznytsia"}),
        ("Hlutabréf Marels lækkuðu um fjögur prósent.", "is", {"marel"}),
        ("Sala Össurar í Bandaríkjunum jókst.", "is", {"ossur"}),
        ("Starfsmenn hjá Eimskipi samþykktu nýjan kjarasamning.", "is", {"eimskip"}),
        ("A Marellel kötött szerződés alapján új feldolgozósor épül.", "hu", {"marel"}),
    ],
)
def test_inflected_brands_are_found(brands, text, language, expected):
    assert found(brands, text, language) == expected


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Delta variant cases rose again, officials said.", "en"),
        ("Summit organisers said the talks would resume.", "en"),
        ("Bolt won the 100m final in Berlin.", "en"),
        ("The Oracle of Omaha said Berkshire would keep buying.", "en"),
        ("Hekla hefur gosið að minnsta kosti tuttugu sinnum.", "is"),  # "Mount Hekla" is shared
        ("Ægir, guð hafsins, hélt goðunum veislur.", "is"),  # so is "varðskipið Ægir"
        ("Eimskip leystu seglskipin af hólmi.", "is"),  # steamships: an everyday compound
        ("Світанок того дня видався холодним.", "uk"),  # dawn; the domain is not the word
        ("Össur Skarphéðinsson gaf út nýja bók.", "is"),  # a person
        ("Marelli, the Italian car parts maker, filed for bankruptcy.", "en"),
    ],
)
def test_namesakes_first_in_a_sentence_are_still_refused(brands, text, language):
    assert found(brands, text, language) == set()


def test_a_brand_needs_no_domain_when_it_is_coined():
    """ "Icelandair" is Iceland + air: two everyday English words glued into no word."""
    finder = MentionFinder([Company("icelandair", "Icelandair"), Company("marel", "Marel")])
    assert found(finder, "Icelandair mun fljúga til Boston.", "is") == {"icelandair"}
    assert found(finder, "Marel kynnti nýja vél.", "is") == set()  # without a domain: unknown


@pytest.mark.parametrize(
    ("token", "word", "language"),
    [
        ("світанку", "світанок", "uk"),  # a vowel that drops
        ("світанком", "світанок", "uk"),
        ("променя", "промінь", "uk"),  # і turning into е
        ("mööbli", "mööbel", "et"),
        ("tallinkiga", "tallink", "et"),  # a case ending after the genitive's vowel
        ("tallinkile", "tallink", "et"),
        ("marellel", "marel", "hu"),  # -vel taking the shape of the last consonant
        ("richterrel", "richter", "hu"),
        ("airnél", "air", "hu"),  # a short word takes endings too ("Wizz Airnél")
    ],
)
def test_inflections_a_name_takes(token, word, language):
    from outreach.adapters.mentions import word_matches
    from outreach.adapters.mentions.lexicon import fold

    assert word_matches(fold(token), fold(word), language)


@pytest.mark.parametrize(
    ("token", "word", "language"),
    [("marelli", "marel", "hu"), ("tallinna", "tallink", "et"), ("світла", "світанок", "uk")],
)
def test_a_longer_word_is_not_an_inflection(token, word, language):
    from outreach.adapters.mentions import word_matches

    assert not word_matches(token, word, language)
