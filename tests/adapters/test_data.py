"""CSV/YAML data loaders: a bad row is reported at file:line:col and skipped; the rest loads."""

from __future__ import annotations

import tempfile
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from outreach.adapters.sources.contacts import check_references, load_contacts
from outreach.adapters.sources.data import load_companies, load_purchases
from outreach.adapters.sources.suppressions import load_suppressions
from outreach.core.model import Birthday
from outreach.core.problems import Location, Severity


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def contacts_from(tmp_path: Path, text: str | bytes, date_columns=()):
    found = load_contacts(write(tmp_path, "contacts.csv", text), "contacts.csv", date_columns)
    return found.contacts, found.problems


def where(problems) -> list[str]:
    return [str(p.location) for p in problems]


def test_good_rows_load_with_their_lines(tmp_path: Path) -> None:
    contacts, problems = contacts_from(
        tmp_path,
        "id,first_name,last_name,email,birthday,timezone,locale,tags,opted_out,renewal_date\n"
        "c-1,Þórunn,Sigurðardóttir,thorunn@example.test,1993-01-13,Atlantic/Reykjavik,is,"
        "decision-maker;fleet,false,2027-01-02\n"
        "c-2,Олена,Коваленко,olena@example.test,,Europe/Kyiv,uk,,true,\n",
    )

    assert problems == []
    one, two = contacts["c-1"], contacts["c-2"]
    assert one.line == 2 and two.line == 3
    assert one.birthday == Birthday(1, 13, 1993)
    assert one.timezone == "Atlantic/Reykjavik" and one.locale == "is"
    assert one.tags == ("decision-maker", "fleet")
    assert one.opted_out is False and two.opted_out is True
    assert one.fields["renewal_date"] == "2027-01-02", "extra columns are kept"
    assert one.name == "Þórunn Sigurðardóttir"
    assert two.birthday is None and two.tags == ()


def test_a_bad_cell_is_reported_at_line_and_column_and_only_that_cell_is_lost(
    tmp_path: Path,
) -> None:
    contacts, problems = contacts_from(
        tmp_path,
        "id,first_name,email,birthday,timezone,customer_since,locale,opted_out\n"  # 1
        "c-1,Ada,ada@example.test,1985-06-10,,,,\n"  # 2 good
        "c-2,Bob,bob@example.test,1980-06-11,,2020-13-45,,\n"  # 3 customer_since col 38
        "c-3,Cy,cy@example.test,1985-02-30,,,,\n"  # 4 birthday col 24
        "c-4,Di,di@example.test,,Mars/Olympus,,,\n"  # 5 timezone col 25
        "c-5,Eve,not-an-email,,,,,\n"  # 6 email col 9
        "c-6,Fay,fay@example.test,,,,xx-NOPE-123,\n"  # 7 locale col 29
        "c-7,Gus,gus@example.test,,,,,maybe\n"  # 8 opted_out col 30
        "c-8,Hal,hal@example.test,13-01,,,,\n"  # 9 birthday col 26
        "c-9,Ida,ida@example.test,,,,,\n",  # 10 good
    )

    assert sorted(contacts) == [f"c-{n}" for n in range(1, 10)], "no row is dropped"
    assert where(problems) == [
        "contacts.csv:3:38",
        "contacts.csv:4:24",
        "contacts.csv:5:25",
        "contacts.csv:6:9",
        "contacts.csv:7:29",
        "contacts.csv:8:30",
        "contacts.csv:9:26",
    ]
    assert all(p.severity is Severity.ERROR for p in problems)
    assert "2020-13-45" in problems[0].message and "customer_since" in problems[0].message
    assert "1985-02-30" in problems[1].message
    assert "Mars/Olympus" in problems[2].message
    bob, cy, di, eve, fay = (contacts[f"c-{n}"] for n in range(2, 7))
    assert bob.customer_since is None and bob.birthday == Birthday(6, 11, 1980)
    assert cy.birthday is None and cy.email == "cy@example.test"
    assert di.timezone is None and "time zone is used" in problems[2].message
    assert eve.email is None and "nothing is emailed" in problems[3].message
    assert fay.locale is None
    gus = contacts["c-7"]
    assert gus.withheld and "cannot be read" in gus.withheld, "an unreadable opt-out withholds"
    assert "nothing is written" in problems[5].message


def test_every_bad_cell_of_a_row_is_reported(tmp_path: Path) -> None:
    contacts, problems = contacts_from(
        tmp_path,
        "id,email,birthday,customer_since,renewal\nc-1,nope,1980-13-45,2020-02-30,2026-99-01\n",
        date_columns=["renewal"],
    )
    assert where(problems) == [
        "contacts.csv:2:5",
        "contacts.csv:2:10",
        "contacts.csv:2:21",
        "contacts.csv:2:32",
    ]
    assert "renewal" in problems[3].message
    assert contacts["c-1"].dates == {}


def test_date_columns_the_rules_read_are_typed_and_bounded(tmp_path: Path) -> None:
    contacts, problems = contacts_from(
        tmp_path,
        "id,renewal,birthday\nc-1,2027-01-02,\nc-2,9999-12-31,0001-01-01\nc-3,,\n",
        date_columns=["renewal"],
    )
    assert contacts["c-1"].dates == {"renewal": date(2027, 1, 2)}
    assert contacts["c-2"].dates == {} and contacts["c-2"].birthday is None
    assert contacts["c-3"].dates == {}
    assert where(problems) == ["contacts.csv:3:5", "contacts.csv:3:16"]
    assert all("outside the years 1800-2999" in p.message for p in problems)


def test_bom_is_ignored(tmp_path: Path) -> None:
    contacts, problems = contacts_from(
        tmp_path, b"\xef\xbb\xbfid,first_name,birthday\nc-1,Ada,1985-06-10\nc-2,Bob,1985-02-30\n"
    )

    assert problems[0].location == Location("contacts.csv", 3, 9), "columns count from the text"
    assert contacts["c-2"].birthday is None
    assert contacts["c-1"].fields["first_name"] == "Ada"


def test_windows_line_endings(tmp_path: Path) -> None:
    contacts, problems = contacts_from(
        tmp_path, b"id,first_name,birthday\r\nc-1,Ada,1985-06-10\r\nc-2,Bob,1985-02-30\r\n"
    )
    assert contacts["c-2"].birthday is None
    assert where(problems) == ["contacts.csv:3:9"]
    assert contacts["c-1"].birthday == Birthday(6, 10, 1985)


def test_multiline_cells_keep_the_following_line_numbers(tmp_path: Path) -> None:
    contacts, problems = contacts_from(
        tmp_path,
        "id,notes,birthday\n"  # 1
        'c-1,"first\nsecond\nthird",1985-06-10\n'  # 2-4
        'c-2,"a ""quoted"", cell",1985-02-30\n'  # 5: birthday at col 26
        "c-3,,06-10\n"  # 6
        'c-4,"x\ny",1985-13-01\n',  # 7-8: bad, spans two lines
    )

    assert contacts["c-1"].line == 2
    assert contacts["c-1"].fields["notes"] == "first\nsecond\nthird"
    assert contacts["c-3"].line == 6
    assert [p.location.line for p in problems] == [5, 7]
    assert problems[0].location == Location("contacts.csv", 5, 26)
    assert problems[1].location.col in (None, 9), "a column only when it can be told"


def test_month_day_birthdays(tmp_path: Path) -> None:
    contacts, problems = contacts_from(
        tmp_path,
        "id,birthday\nc-1,12-07\nc-2,02-29\nc-3,2000-02-29\nc-4,02-30\nc-5,00-10\nc-6,1999-02-29\n",
    )

    assert contacts["c-1"].birthday == Birthday(12, 7, None)
    assert contacts["c-2"].birthday == Birthday(2, 29, None), "02-29 is a real birthday"
    assert contacts["c-3"].birthday == Birthday(2, 29, 2000)
    assert all(contacts[f"c-{n}"].birthday is None for n in (4, 5, 6))
    assert [p.location.line for p in problems] == [5, 6, 7]


def test_a_duplicate_id_withholds_the_contact(tmp_path: Path) -> None:
    contacts, problems = contacts_from(
        tmp_path, "id,first_name\nc-1,First\nc-2,Other\nc-1,Second\n"
    )

    assert contacts["c-1"].fields["first_name"] == "First"
    assert contacts["c-1"].withheld and "lines 2 and 4" in contacts["c-1"].withheld
    assert contacts["c-2"].withheld is None
    (problem,) = problems
    assert problem.location == Location("contacts.csv", 4, 1)
    assert "duplicate" in problem.message and "line 2" in problem.message


def test_an_opt_out_on_any_row_counts(tmp_path: Path) -> None:
    found = load_contacts(
        write(
            tmp_path,
            "contacts.csv",
            "id,email,opted_out\n"
            "c-1,ann@example.test,false\n"
            "c-1,ann.other@example.test,true\n"  # a duplicate that opted out
            ",nobody@example.test,yes\n"  # no id: skipped, but its address is kept from
            "c-3,Cy@Example.TEST,maybe\n",  # an unreadable opt-out
        ),
        "contacts.csv",
    )
    ann = found.contacts["c-1"]
    assert ann.opted_out and ann.withheld
    assert set(found.do_not_write) == {
        "ann.other@example.test",
        "nobody@example.test",
        "cy@example.test",
    }
    assert "line 3" in found.do_not_write["ann.other@example.test"]


@pytest.mark.parametrize(
    "header",
    [
        "Opted Out", "OPTED_OUT", "opted-out", "optout", "unsubscribed", "Unsubscribed?",
        "Do Not Email", "do_not_contact", "DNC", "Email Opt-Out", "email_opt_out",
        "Marketing Opt-Out", "Opted out?", "No Email", "suppressed", "blocklist",
    ],
)  # fmt: skip
def test_opt_out_columns_however_spelled(tmp_path: Path, header: str) -> None:
    contacts, problems = contacts_from(tmp_path, f"id,email,{header}\nc-1,a@example.test,yes\n")
    assert contacts["c-1"].opted_out
    assert problems and all(not p.is_error for p in problems), "a warning names the reading"
    assert problems[-1].location == Location("contacts.csv", 1, 10)


@given(
    before=st.sampled_from(["", "email ", "Email-", "marketing_", "Newsletter "]),
    word=st.sampled_from(["opt out", "Opt-Out", "OPTED_OUT", "unsubscribe", "do not email"]),
    after=st.sampled_from(["", "?", " flag", "_status"]),
    value=st.sampled_from(["true", "YES", "1", "maybe", "x", "opted out"]),
)
def test_any_header_that_may_mean_an_opt_out_withholds(
    before: str, word: str, after: str, value: str
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        header = f"{before}{word}{after}"
        contacts, _ = contacts_from(Path(folder), f'id,email,"{header}"\nc-1,a@x.test,{value}\n')
    ann = contacts["c-1"]
    assert ann.opted_out or ann.withheld, header


def test_duplicated_opt_out_and_email_columns_are_read_whole(tmp_path: Path) -> None:
    found = load_contacts(
        write(
            tmp_path,
            "contacts.csv",
            "id,email,opted_out,opted_out,email\n"
            "c-1,a@x.test,false,true,a@x.test\n"  # the second opt-out column says yes
            "c-2,b@x.test,false,false,b.other@x.test\n",  # two addresses: which one?
        ),
        "contacts.csv",
    )
    assert found.contacts["c-1"].opted_out
    assert found.contacts["c-2"].withheld and "disagree" in found.contacts["c-2"].withheld


@pytest.mark.parametrize(
    "text",
    [
        b"id,email,opted_out\nc-1,a@x.test,false\n\xff\xfe bad bytes\nc-2,b@x.test,true\n",
        b'id,email,opted_out\nc-1,a@x.test,false\nc-2,"' + b"x" * 1_100_000 + b'",true\n',
        b"name,email\nAnn,a@x.test\n",  # no id column
    ],
)
def test_a_contacts_file_not_read_whole_says_so(tmp_path: Path, text: bytes) -> None:
    found = load_contacts(write(tmp_path, "contacts.csv", text), "contacts.csv")
    assert found.incomplete, "what was not read could hold an opt-out"


def test_known_columns_however_spelled(tmp_path: Path) -> None:
    contacts, problems = contacts_from(
        tmp_path, "ID,First Name,E-mail,Birthday\nc-1,Ada,ada@example.test,1985-06-10\n"
    )
    ada = contacts["c-1"]
    assert ada.fields["first_name"] == "Ada" and ada.email == "ada@example.test"
    assert ada.birthday == Birthday(6, 10, 1985)
    assert len(problems) == 4 and not any(p.is_error for p in problems)


def test_empty_id_and_blank_lines(tmp_path: Path) -> None:
    contacts, problems = contacts_from(tmp_path, "id,first_name\n\n,Nobody\nc-1,Ada\n,,\n")
    assert list(contacts) == ["c-1"]
    assert contacts["c-1"].line == 4
    assert where(problems) == ["contacts.csv:3:1"]


def test_missing_id_column_is_one_problem(tmp_path: Path) -> None:
    contacts, problems = contacts_from(tmp_path, "name,email\nAda,ada@example.test\nBo,b@x.test\n")
    assert contacts == {}
    assert len(problems) == 1
    assert problems[0].location.line == 1
    assert "id" in problems[0].message


def test_link_time_zone_resolves_with_a_warning(tmp_path: Path) -> None:
    contacts, problems = contacts_from(
        tmp_path, "id,first_name,timezone\nc-1,Anna,Europe/Reykjavik\nc-2,Jón,Atlantic/Reykjavik\n"
    )

    assert contacts["c-1"].timezone == "Atlantic/Reykjavik"
    assert contacts["c-2"].timezone == "Atlantic/Reykjavik"
    (problem,) = problems
    assert problem.severity is Severity.WARNING
    assert problem.location.path == "contacts.csv" and problem.location.line == 2
    assert problem.location.col in (None, 10)
    assert "Europe/Reykjavik" in problem.message and "Atlantic/Reykjavik" in problem.message
    assert str(problem).startswith("contacts.csv:2")
    assert "warning" in str(problem)


def test_not_utf8_is_one_clear_problem(tmp_path: Path) -> None:
    contacts, problems = contacts_from(tmp_path, "id,first_name\nc-1,Jón\n".encode("latin-1"))
    assert contacts == {}
    assert len(problems) == 1 and "UTF-8" in problems[0].message


def test_missing_file(tmp_path: Path) -> None:
    found = load_contacts(tmp_path / "nope.csv", "nope.csv")
    contacts, problems = found.contacts, found.problems
    assert contacts == {}
    assert problems and problems[0].location.path == "nope.csv"


# purchases --------------------------------------------------------------------------------


@pytest.fixture
def people(tmp_path: Path):
    contacts, problems = contacts_from(tmp_path, "id\nc-1\nc-2\n")
    assert problems == []
    return contacts


def purchases_from(tmp_path: Path, text: str, contacts):
    return load_purchases(write(tmp_path, "purchases.csv", text), "purchases.csv", contacts)


def test_purchases(tmp_path: Path, people) -> None:
    purchases, problems = purchases_from(
        tmp_path,
        "id,contact_id,date,amount,currency,product,channel\n"  # 1
        "p-1,c-1,2026-01-05,100.50,EUR,eVan 3500,web\n"  # 2
        "p-2,c-9,2026-01-05,10,EUR,Van,web\n"  # 3 unknown contact: col 5
        "p-3,c-1,2026-02-30,10,EUR,Van,web\n"  # 4 bad date: col 9
        "p-4,c-1,2026-01-06,12;50,EUR,Van,web\n"  # 5 bad amount: col 20
        "p-5,c-1,2026-01-06,-3,EUR,Van,web\n"  # 6 negative amount: col 20
        "p-6,c-1,2026-01-06,3,euro,Van,web\n"  # 7 bad currency: col 22
        "p-1,c-2,2026-01-07,3,EUR,Van,web\n"  # 8 duplicate id: col 1
        'p-7,c-2,2026-01-08,"1,234.00",EUR,Van,web\n'  # 9 thousands separator: col 20
        "p-8,c-2,2026-01-09,80000,usd,Forklift,shop\n",  # 10 good: currency upper-cased
        people,
    )

    assert [p.id for p in purchases] == ["p-1", "p-8"]
    first = purchases[0]
    assert first.contact_id == "c-1" and first.date == date(2026, 1, 5)
    assert first.amount == Decimal("100.50") and first.currency == "EUR"
    assert first.product == "eVan 3500" and first.extra == {"channel": "web"}
    assert purchases[1].currency == "USD"
    assert where(problems) == [
        "purchases.csv:3:5",
        "purchases.csv:4:9",
        "purchases.csv:5:20",
        "purchases.csv:6:20",
        "purchases.csv:7:22",
        "purchases.csv:8:1",
        "purchases.csv:9:20",
    ]
    assert "c-9" in problems[0].message
    assert "12;50" in problems[2].message


def test_purchases_missing_column(tmp_path: Path, people) -> None:
    purchases, problems = purchases_from(
        tmp_path, "id,contact_id,date,amount\np-1,c-1,2026-01-05,10\n", people
    )
    assert purchases == []
    (problem,) = problems
    assert problem.location.line == 1
    assert "currency" in problem.message and "product" in problem.message


def test_short_purchase_row(tmp_path: Path, people) -> None:
    purchases, problems = purchases_from(
        tmp_path,
        "id,contact_id,date,amount,currency,product\np-1,c-1,2026-01-05\np-2,c-1,2026-01-06,1,EUR,x\n",
        people,
    )
    assert [p.id for p in purchases] == ["p-2"]
    assert [p.location.line for p in problems] == [2]


def test_header_only_purchases(tmp_path: Path, people) -> None:
    purchases, problems = purchases_from(
        tmp_path, "id,contact_id,date,amount,currency,product\n", people
    )
    assert purchases == [] and problems == []


# suppressions, companies, references -----------------------------------------------------


def test_suppressions_keep_a_malformed_address_and_refuse_what_names_no_one(
    tmp_path: Path,
) -> None:
    emails, problems = load_suppressions(
        write(
            tmp_path,
            "s.csv",
            "email,reason\nAda@Example.TEST,asked\nann@x(home,x\nNot An Email,x\n",
        ),
        "s.csv",
    )
    assert emails == {"Ada@Example.TEST", "ann@x(home"}
    assert where(problems) == ["s.csv:3:1", "s.csv:4:1"]
    assert not problems[0].is_error, "a malformed address is kept, with a warning"
    assert problems[1].is_error and "cannot tell whom it means" in problems[1].message


@pytest.mark.parametrize(
    ("cell", "entries"),
    [
        ("ann@x.test; bob@x.test", {"ann@x.test", "bob@x.test"}),
        ('"Ann Lee <ann@x.test>, Bo <bo@x.test>"', {"ann@x.test", "bo@x.test"}),
        ("Ann Lee <ann@x.test>, Bo <bo@x.test>", {"ann@x.test", "bo@x.test"}),  # unquoted
        ("mailto:Ann@x.test", {"Ann@x.test"}),
        ("ann@x.test (home office)", {"ann@x.test"}),
        ("example.net", {"@example.net"}),
        ("@example.net", {"@example.net"}),
        ("dæmi.is", {"@dæmi.is"}),
    ],
)
def test_a_suppression_cell_may_hold_several_entries_or_a_domain(
    tmp_path: Path, cell: str, entries: set[str]
) -> None:
    listed, problems = load_suppressions(write(tmp_path, "s.csv", f"email\n{cell}\n"), "s.csv")
    assert listed == entries
    assert not [p for p in problems if p.is_error]


@pytest.mark.parametrize(
    "text",
    [
        "zed@example.test\n",  # one address, no header
        "zed@example.test\nann@example.test\n",
        "E-mail\nzed@example.test\n",
        "Email Address,reason\nzed@example.test,asked\n",
    ],
)
def test_suppression_files_without_a_proper_header_fail_closed(tmp_path: Path, text: str) -> None:
    emails, problems = load_suppressions(write(tmp_path, "s.csv", text), "s.csv")
    assert "zed@example.test" in emails
    assert not any(p.is_error for p in problems)


def test_companies(tmp_path: Path) -> None:
    companies, problems = load_companies(
        write(
            tmp_path,
            "companies.yaml",
            "companies:\n"  # 1
            "  - id: ossur\n"  # 2
            "    name: Össur\n"
            '    aliases: [Ossur, "Össur hf."]\n'
            "    context: [prosthetics]\n"
            "  - id: broken\n"  # 6
            "    nmae: Typo\n"  # 7: unknown key, col 5
            "  - id: ossur\n"  # 8: duplicate id, col 9
            "    name: Again\n",
        ),
        "companies.yaml",
    )

    assert list(companies) == ["ossur"]
    assert companies["ossur"].name == "Össur"
    assert companies["ossur"].aliases == ("Ossur", "Össur hf.")
    locations = where(problems)
    assert "companies.yaml:7:5" in locations
    assert "companies.yaml:8:9" in locations
    assert any("did you mean 'name'" in p.message for p in problems)


def test_references_are_warnings(tmp_path: Path) -> None:
    contacts, _ = contacts_from(
        tmp_path, "id,company_id,referred_by\nc-1,acme,\nc-2,,c-404\nc-3,ossur,c-1\n"
    )
    companies, _ = load_companies(
        write(tmp_path, "companies.yaml", "companies:\n  - {id: ossur, name: Össur}\n"),
        "companies.yaml",
    )

    problems = check_references(contacts, companies, lambda line: Location("contacts.csv", line))

    assert sorted(where(problems)) == ["contacts.csv:2", "contacts.csv:3"]
    assert all(p.severity is Severity.WARNING for p in problems)


@pytest.mark.parametrize(
    ("header", "value", "opted"),
    [
        ("Accepts Email Marketing", "no", True),
        ("Accepts Email Marketing", "yes", False),
        ("subscribed", "false", True),
        ("email_consent", "0", True),
        ("marketing_opt_in", "FALSE", True),
        ("opted_out_at", "2025-03-01", True),  # when they opted out: a date means yes
        ("unsubscribed_at", "2025-03-01T10:00:00Z", True),
        ("opted\u200b_out", "true", True),  # a zero-width space an export left in
        ("\ufeffopted_out", "true", True),
    ],
)
def test_consent_and_dated_opt_out_columns(
    tmp_path: Path, header: str, value: str, opted: bool
) -> None:
    contacts, _ = contacts_from(tmp_path, f'id,email,"{header}"\nc-1,a@x.test,{value}\n')
    assert contacts["c-1"].opted_out is opted


@pytest.mark.parametrize(
    "rows",
    [
        "c-2,An\rn,ann@x.test,true\n",  # a bare carriage return splits the row
        "c-2,Ann,ann@x.test,true,stray\n",  # more cells than the header
        "c-2,Ann,ann@x.test\n",  # it ends before its opt-out cell
    ],
)
def test_a_row_whose_cells_do_not_line_up_withholds_every_address_on_it(
    tmp_path: Path, rows: str
) -> None:
    found = load_contacts(
        write(tmp_path, "contacts.csv", "id,first_name,email,opted_out\n" + rows),
        "contacts.csv",
    )
    assert "ann@x.test" in found.do_not_write
    assert all(c.withheld for c in found.contacts.values())
    assert any("do not line up" in (c.withheld or "") for c in found.contacts.values())


@pytest.mark.parametrize(
    "cell",
    ["mailto:ann@x.test", "ann@x.test;", '"bob@x.test; ann@x.test"', "Ann <ann@x.test>",
     "ann@x.test (home)", "ann\u200b@x.test"],
)  # fmt: skip
def test_every_address_an_opted_out_row_names_is_never_written_to(
    tmp_path: Path, cell: str
) -> None:
    found = load_contacts(
        write(tmp_path, "contacts.csv", f"id,email,opted_out\nc-1,{cell},true\n"), "contacts.csv"
    )
    assert "ann@x.test" in found.do_not_write


@pytest.mark.parametrize(
    "second",
    ["C-1,b@x.test", "c-2,ANN@X.test", "c-2,ann+news@x.test", "ｃ-1,b@x.test"],
)
def test_two_rows_that_may_be_one_person_are_withheld(tmp_path: Path, second: str) -> None:
    contacts, problems = contacts_from(tmp_path, f"id,email\nc-1,ann@x.test\n{second}\n")
    assert len(contacts) == 2 and all(c.withheld for c in contacts.values())
    assert any("same person" in p.message for p in problems)


def test_company_names_and_phrases_are_bounded(tmp_path: Path) -> None:
    companies, problems = load_companies(
        write(
            tmp_path,
            "companies.yaml",
            f"companies:\n  - {{id: a, name: Acme, aliases: [{'x' * 700_000}]}}\n"
            "  - {id: b, name: Bee}\n",
        ),
        "companies.yaml",
    )
    assert list(companies) == ["b"]
    (problem,) = problems
    assert "at most 200 characters" in problem.message and len(str(problem)) < 300


def test_a_file_of_one_endless_line_or_endless_columns_is_refused(tmp_path: Path) -> None:
    sparse = tmp_path / "sparse.csv"
    with sparse.open("wb") as handle:
        handle.write(b"id,email\n")
        handle.truncate(30_000_000)  # 30 MB of NUL bytes, not one line break among them
    wide = write(tmp_path, "wide.csv", ",".join(f"c{i}" for i in range(5000)) + "\nx\n")
    for path in (sparse, wide):
        found = load_contacts(path, path.name)
        assert found.incomplete and not found.contacts


def test_a_large_companies_file_is_read_whole(tmp_path: Path) -> None:
    entries = "".join(
        f"  - {{id: c{i}, name: Company {i}, aliases: [C{i}]}}\n" for i in range(30_000)
    )
    companies, problems = load_companies(write(tmp_path, "c.yaml", "companies:\n" + entries), "c")
    assert len(companies) == 30_000 and problems == []
