"""Write a large, deterministic outreach workspace for benchmarks.

    python benchmarks/generate_workspace.py DIR [--contacts 100000] [--purchases 1000000] [--seed 7]

Stdlib only. Everything is derived from ``random.Random(seed)``: the same arguments always
produce byte-identical files.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from itertools import repeat
from pathlib import Path
from typing import TypeVar

# fmt: off
FIRST_NAMES = (
    "Anna", "Jón", "Guðrún", "Þórður", "Ólafur", "Sigríður", "Björk", "Ægir", "Olena", "Taras",
    "Оксана", "Андрій", "Zsófia", "Gergő", "Ádám", "Éva", "Jüri", "Tõnu", "Mari-Liis", "Kätlin",
    "Armen", "Anahit", "Արամ", "Nairi", "James", "Emily", "Siobhán", "Zoë", "Oliver", "Chloé",
)
LAST_NAMES = (
    "Jónsdóttir", "Guðmundsson", "Sigurðardóttir", "Ólafsson", "Shevchenko", "Коваленко",
    "Bondarenko", "Kovács", "Szabó", "Tóth", "Nagy", "Tamm", "Õunapuu", "Mägi", "Saar",
    "Hovhannisyan", "Petrosyan", "Հակոբյան", "Smith", "O'Brien", "Müller", "Brontë", "García",
    "Nguyễn",
)
# (timezone, city, country, postal code prefix)
PLACES = (
    ("Atlantic/Reykjavik", "Reykjavík", "IS", "10"),
    ("Atlantic/Reykjavik", "Akureyri", "IS", "60"),
    ("Europe/London", "London", "GB", "EC"),
    ("Europe/Dublin", "Dublin", "IE", "D0"),
    ("Europe/Budapest", "Budapest", "HU", "10"),
    ("Europe/Tallinn", "Tallinn", "EE", "10"),
    ("Europe/Kyiv", "Kyiv", "UA", "01"),
    ("Asia/Yerevan", "Yerevan", "AM", "00"),
    ("America/New_York", "New York", "US", "10"),
    ("America/Los_Angeles", "Los Angeles", "US", "90"),
    ("America/St_Johns", "St. John's", "CA", "A1"),
    ("Asia/Kathmandu", "Kathmandu", "NP", "44"),
    ("Asia/Kolkata", "Bengaluru", "IN", "56"),
    ("Australia/Adelaide", "Adelaide", "AU", "50"),
    ("Pacific/Auckland", "Auckland", "NZ", "10"),
    ("Pacific/Chatham", "Waitangi", "NZ", "80"),
)
LOCALES = ("en", "en", "en-GB", "is", "uk", "hu", "et", "hy")
TIERS = ("bronze", "silver", "gold", "platinum")
TIER_WEIGHTS = (50, 30, 15, 5)
TAGS = ("decision-maker", "vip", "newsletter", "partner", "finance", "engineering", "event-2025")
STREETS = ("Laugavegur", "Andrássy út", "Khreshchatyk", "Narva mnt", "Abovyan St", "High Street",
           "Queen Street", "Broadway", "Main Road", "Ταχυδρόμου")
PRODUCTS = ("Notebook A5", "Notebook A4", "Fountain pen", "Ink set", "Desk organiser",
            "Leather folio", "Pencil case", "Planner 2026", "Sketchbook", "Gift box")
BIG_PRODUCTS = ("Office fit-out", "Bespoke stationery line")
COMPANY_WORDS = ("Norður", "Aurora", "Dnipro", "Duna", "Balti", "Ararat", "Harbour", "Summit",
                 "Fjord", "Kestrel", "Tisza", "Lumi", "Saga", "Meridian", "Vatna", "Kaskad",
                 "Zenit", "Polar", "Granit", "Hekla", "Sevan", "Karpaty", "Pannonia", "Emajõgi")
COMPANY_KINDS = ("Logistics", "Robotics", "Foods", "Software", "Energy", "Textiles", "Design",
                 "Medical", "Capital", "Studios", "Marine", "Analytics")
COMPANY_SUFFIXES = ("hf.", "ehf.", "Ltd", "Kft.", "OÜ", "TOV", "LLC", "Inc.", "AS", "GmbH")
SUPPRESSION_REASONS = ("unsubscribed", "bounced", "complaint")
ASCII_FOLD = str.maketrans({"ð": "d", "þ": "th", "æ": "ae", "ø": "o", "ß": "ss", "'": ""})

BIRTH_FIRST, BIRTH_LAST = date(1950, 1, 1).toordinal(), date(2004, 12, 31).toordinal()
LEAP_YEARS = tuple(y for y in range(1952, 2005, 4))
SINCE_FIRST, SINCE_LAST = date(2010, 1, 1).toordinal(), date(2026, 12, 31).toordinal()
BUY_FIRST, BUY_LAST = date(2015, 1, 1).toordinal(), date(2026, 12, 31).toordinal()
BIG_TICKET_RECENT = date(2026, 10, 1).toordinal()

T = TypeVar("T")

CONTACT_COLUMNS = (
    "id", "first_name", "last_name", "email", "birthday", "timezone", "locale", "company_id",
    "owner", "tier", "tags", "customer_since", "address_line1", "address_line2", "city",
    "postal_code", "country", "referred_by", "opted_out",
)
# fmt: on


@dataclass(frozen=True)
class Company:
    id: str
    name: str
    aliases: tuple[str, ...]
    domain: str


@dataclass
class Contacts:
    """What the purchase and suppression writers need to know about the contacts."""

    ids: list[str]
    emails: list[str]
    since: list[int]  # customer_since as date ordinals


@cache
def ascii_slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.lower().translate(ASCII_FOLD))
    return "".join(ch for ch in folded if ch.isascii() and (ch.isalnum() or ch == "-"))


def iso(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


def q(value: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(value, ensure_ascii=False)


# --------------------------------------------------------------------------- companies


def make_companies(rng: random.Random, count: int) -> list[Company]:
    companies: list[Company] = []
    seen: set[str] = set()
    while len(companies) < count:
        base = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_KINDS)}"
        if base in seen:
            base = f"{base} {len(companies) + 1}"
        seen.add(base)
        suffix = rng.choice(COMPANY_SUFFIXES)
        slug = ascii_slug(base.replace(" ", "-"))
        folded = unicodedata.normalize("NFKD", base.translate(ASCII_FOLD))
        plain = "".join(ch for ch in folded if ch.isascii())
        aliases = (base, plain) if plain != base else (base,)
        companies.append(
            Company(f"co-{len(companies) + 1:04d}", f"{base} {suffix}", aliases, f"{slug}.test")
        )
    return companies


def write_companies(path: Path, companies: Sequence[Company]) -> None:
    lines = ["companies:"]
    for co in companies:
        aliases = ", ".join(q(a) for a in co.aliases)
        lines += [
            f"  - id: {co.id}",
            f"    name: {q(co.name)}",
            f"    aliases: [{aliases}]",
            f"    domain: {co.domain}",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- contacts


def make_birthday(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.10:
        return ""
    if roll < 0.20:
        return date.fromordinal(rng.randint(BIRTH_FIRST, BIRTH_LAST)).strftime("%m-%d")
    if roll < 0.205:  # ~0.5 % born on a leap day
        return f"{rng.choice(LEAP_YEARS)}-02-29"
    return iso(rng.randint(BIRTH_FIRST, BIRTH_LAST))


def make_contact(
    rng: random.Random, n: int, companies: Sequence[Company], owners: Sequence[str]
) -> list[str]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    local = ".".join(p for p in (ascii_slug(first), ascii_slug(last)) if p) or "contact"
    tz, city, country, postal = rng.choice(PLACES)
    row = {
        "id": f"c-{n:06d}",
        "first_name": first,
        "last_name": last,
        "email": f"{local}.{n}@example.test",
        "birthday": make_birthday(rng),
        "timezone": tz,
        "locale": rng.choice(LOCALES),
        "company_id": rng.choice(companies).id if rng.random() < 0.97 else "",
        "owner": rng.choice(owners),
        "tier": rng.choices(TIERS, TIER_WEIGHTS)[0],
        "tags": ";".join(rng.sample(TAGS, rng.choice((0, 0, 1, 1, 2, 3)))),
        "customer_since": iso(rng.randint(SINCE_FIRST, SINCE_LAST)),
        "address_line1": f"{rng.randint(1, 250)} {rng.choice(STREETS)}",
        "address_line2": f"Apt {rng.randint(1, 80)}" if rng.random() < 0.3 else "",
        "city": city,
        "postal_code": f"{postal}{rng.randint(100, 999)}",
        "country": country,
        "referred_by": f"c-{rng.randint(1, n - 1):06d}" if n > 1 and rng.random() < 0.05 else "",
        "opted_out": "true" if rng.random() < 0.01 else "false",
    }
    return [row[column] for column in CONTACT_COLUMNS]


def write_contacts(
    path: Path, rng: random.Random, count: int, companies: Sequence[Company]
) -> Contacts:
    owners = [f"manager{i:02d}@bench.example.test" for i in range(1, 21)]
    out = Contacts([], [], [])
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(CONTACT_COLUMNS)
        for n in range(1, count + 1):
            row = make_contact(rng, n, companies, owners)
            writer.writerow(row)
            out.ids.append(row[0])
            out.emails.append(row[3])
            out.since.append(date.fromisoformat(row[11]).toordinal())
    return out


# --------------------------------------------------------------------------- purchases


def purchase_weights(rng: random.Random, count: int) -> list[float]:
    """Cumulative weights: 10 % never buy; log-normal for the rest, so most buy a few times and
    a tail buys dozens (at 10 purchases per contact: median ~6, p99 ~120)."""
    total = 0.0
    cumulative: list[float] = []
    for _ in range(count):
        if rng.random() >= 0.10:
            total += min(rng.lognormvariate(0.0, 1.6), 30.0)
        cumulative.append(total)
    if total == 0.0:  # tiny workspaces: somebody has to buy
        cumulative[-1] = 1.0
    return cumulative


@dataclass
class Purchases:
    """Purchase columns, in generation order; ``order`` lists row indices chronologically."""

    contacts: list[int]  # index into Contacts
    dates: list[int]  # date ordinals
    amounts: list[float]
    products: list[str]
    order: list[int]


def make_purchases(rng: random.Random, count: int, contacts: Contacts) -> Purchases:
    """Amounts follow a shifted Pareto (10 + 40 u^-0.6: median ~70, p99 ~650, a handful per
    million above 80 000, capped at 120 000); besides, about 30 per million purchases (at least
    ~5 in all) are big tickets of 80 000-120 000, 40 % of those in Oct-Dec 2026 so that a
    preview around then sees them. A purchase falls between the contact's ``customer_since``
    (at the earliest 2015-01-01) and 2026-12-31.

    Column-wise comprehensions rather than one loop: this is the hot part of the generator.
    """
    rand = rng.random
    weights = purchase_weights(rng, len(contacts.ids))
    picks = rng.choices(range(len(contacts.ids)), cum_weights=weights, k=count) if count else []
    amounts = [10.0 + 40.0 * (1.0 - rand()) ** -0.6 for _ in picks]
    products = [
        PRODUCTS[int(rand() * len(PRODUCTS))] if a < 20_000 else rng.choice(BIG_PRODUCTS)
        for a in amounts
    ]
    earliest = [max(BUY_FIRST, since) for since in contacts.since]
    starts = [earliest[c] for c in picks]
    big_p = max(3e-5, 5 / max(count, 1))
    for i in [i for i in range(count) if rand() < big_p or amounts[i] > 80_000]:
        amounts[i] = min(amounts[i], 120_000.0) if amounts[i] > 80_000 else 80_000 + 40_000 * rand()
        products[i] = rng.choice(BIG_PRODUCTS)
        if rand() < 0.4:
            starts[i] = max(starts[i], BIG_TICKET_RECENT)
    dates = [lo + int(rand() * (BUY_LAST - lo + 1)) for lo in starts]
    order = sorted(range(count), key=dates.__getitem__)  # stable: ties keep generation order
    return Purchases(picks, dates, amounts, products, order)


def write_purchases(path: Path, rng: random.Random, count: int, contacts: Contacts) -> None:
    """Rows are numbered in date order (as an export would be), so contacts are interleaved."""
    bought = make_purchases(rng, count, contacts)
    day = {o: iso(o) for o in range(BUY_FIRST, BUY_LAST + 1)}

    def column(values: Sequence[T], convert: Callable[[T], str]) -> Iterator[str]:
        return map(convert, map(values.__getitem__, bought.order))

    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(("id", "contact_id", "date", "amount", "currency", "product"))
        writer.writerows(  # map/zip keep the per-row work in C
            zip(
                map("p-{:07d}".format, range(1, count + 1)),
                column(bought.contacts, contacts.ids.__getitem__),
                column(bought.dates, day.__getitem__),
                column(bought.amounts, "{:.2f}".format),
                repeat("EUR", count),
                column(bought.products, str),
                strict=True,
            )
        )


def write_suppressions(path: Path, rng: random.Random, contacts: Contacts) -> None:
    picked = sorted(rng.sample(range(len(contacts.emails)), min(500, len(contacts.emails))))
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(("email", "reason", "date"))
        for i in picked:
            when = iso(rng.randint(date(2018, 1, 1).toordinal(), date(2026, 11, 1).toordinal()))
            writer.writerow((contacts.emails[i], rng.choice(SUPPRESSION_REASONS), when))


# --------------------------------------------------------------------------- config, rules

CONFIG = """\
timezone: Europe/Reykjavik
locale: en
store: sqlite:///outreach.db
data:
  contacts: data/contacts.csv
  companies: data/companies.yaml
  purchases: data/purchases.csv
  feeds: data/feeds.yaml
  suppressions: data/suppressions.csv
channels:
  email: {provider: smtp, host: localhost, port: 25, from: "Bench <bench@example.test>"}
  gifts: {provider: file, path: out/gift-tasks.jsonl}
  tasks: {provider: file, path: out/tasks.jsonl}
policies:
  max_per_contact: {count: 2, days: 7}
  quiet_hours: {start: "20:00", end: "08:00"}
"""

RULES = """\
rules:
  - id: birthday
    description: Birthday note from the account manager to gold and platinum clients
    trigger:
      birthday: {lead_days: 0, feb29: feb28}
    when: "contact.tier in ['gold', 'platinum']"
    action:
      email: {template: birthday, from: owner}
    schedule: {at: "09:00", late_by_at_most: 2d}
    priority: 10

  - id: anniversary
    description: Round customer anniversaries
    trigger:
      anniversary: {years: [1, 5, 10, 15, 20]}
    action:
      email: {template: anniversary, from: owner}
    priority: 8

  - id: onboarding-call
    description: Ask the manager to call a month after the customer joined
    trigger:
      date: {field: customer_since, offset_days: 30}
    action:
      task: {template: onboarding-call, assignee: owner}
    priority: 5

  - id: purchase-count
    description: Thank-you on the 1st, 10th and 50th purchase
    trigger:
      purchase_milestone: {count: [1, 10, 50]}
    action:
      email: {template: purchase-count, from: owner}
    priority: 6

  - id: big-ticket-gift
    description: An engraved pencil for a purchase above 80 000
    trigger:
      purchase_milestone: {single_amount_over: 80000}
    action:
      gift: {item: "Graphite pencil, engraved", budget: {amount: 40, currency: EUR},
             card: card, ship_days: 5}
    approval: required
    priority: 20

  - id: lifetime-total
    description: Thank-you when lifetime spend crosses 1 000 and 10 000
    trigger:
      purchase_milestone: {lifetime_total: [1000, 10000]}
    action:
      email: {template: lifetime-total, from: owner}
    priority: 7

  - id: inactivity
    description: Check in with customers who have not bought for half a year
    trigger:
      inactivity: {days: 180}
    action:
      email: {template: inactivity, from: owner}
    priority: 3

  - id: loyalty-stage
    description: Welcome repeat customers and advocates
    trigger:
      loyalty_stage: {to: [repeat_customer, advocate]}
    action:
      email: {template: loyalty-stage, from: owner}
    priority: 4
"""

SIGN = "{% if owner %}\n{{ owner.name }}{% endif %}\n"
AMOUNT = "{{ occasion.purchase.amount|money(occasion.purchase.currency) }}"


def at_company(words: str = "at") -> str:
    return f"{{% if company %}} {words} {{{{ company.name }}}}{{% endif %}}"


def template(subject: str, body: str) -> str:
    return (
        f"{{% block subject %}}{subject}{{% endblock %}}\n"
        f"{{% block text %}}Dear {{{{ contact.first_name }}}},\n\n{body}\n\n"
        f"Best wishes,{SIGN}{{% endblock %}}\n"
    )


TEMPLATES = {
    "birthday": template(
        "Happy birthday, {{ contact.first_name }}!",
        "Happy birthday{% if occasion.age %} — {{ occasion.age }} today{% endif %}! All of us"
        f"{at_company('who work with you at')} wish you a wonderful {{{{ occasion.date|date }}}}.",
    ),
    "anniversary": template(
        "Thank you for the years together, {{ contact.first_name }}",
        f"On {{{{ occasion.date|date }}}} it is another year since {{{{ contact.name }}}}"
        f"{at_company()} became our customer. Thank you for your trust.",
    ),
    "onboarding-call": template(
        "Call {{ contact.name }}: one month as a customer",
        f"It has been a month since you{at_company('and everyone at')} started working with "
        "us. Could we have a short call this week to hear how things are going? "
        "(Drafted {{ occasion.date|date }}.)",
    ),
    "purchase-count": template(
        "Thank you for your order, {{ contact.first_name }}",
        f"Thank you for your order of {AMOUNT} on {{{{ occasion.date|date }}}}. For you"
        f"{at_company('and everyone at')} and for us, it is a milestone worth celebrating.",
    ),
    "card": template(
        "A small thank-you",
        f"Thank you, {{{{ contact.name }}}}, for your order of {AMOUNT}. "
        "Please accept this small token of our gratitude.",
    ),
    "lifetime-total": template(
        "A milestone together, {{ contact.first_name }}",
        f"With your order of {AMOUNT} on {{{{ occasion.date|date }}}}, you{at_company('and')} "
        "have passed a milestone with us. Thank you!",
    ),
    "inactivity": template(
        "It has been a while, {{ contact.first_name }}",
        "We have not heard from you for a while and wanted to check in "
        f"on {{{{ occasion.date|date }}}}. Is there anything we can help with{at_company()}?",
    ),
    "loyalty-stage": template(
        "Thank you for coming back, {{ contact.first_name }}",
        f"It means a lot that {{{{ contact.name }}}}{at_company()} keeps choosing us. "
        "Thank you, as of {{ occasion.date|date }}, for being such a loyal customer.",
    ),
    "birthday.is": (
        "{% block subject %}Til hamingju með afmælið, {{ contact.first_name }}!{% endblock %}\n"
        "{% block text %}Kæri/kæra {{ contact.first_name }},\n\n"
        "Innilega til hamingju með afmælið{% if occasion.age %}, {{ occasion.age }} ára"
        f"{{% endif %}}! Við óskum þér{at_company('og öllum hjá')} alls hins besta "
        f"á {{{{ occasion.date|date }}}}.\n\nKær kveðja,{SIGN}{{% endblock %}}\n"
    ),
}


def write_static(root: Path) -> list[Path]:
    files = {
        root / "outreach.yaml": CONFIG,
        root / "rules" / "bench.yaml": RULES,
        root / "data" / "feeds.yaml": "feeds: []\n",
    } | {root / "templates" / f"{name}.j2": text for name, text in TEMPLATES.items()}
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
    return list(files)


# --------------------------------------------------------------------------- main


def generate(
    root: Path, contacts: int = 100_000, purchases: int = 1_000_000, seed: int = 7
) -> list[Path]:
    """Write the whole workspace into ``root`` (created if missing; files are overwritten).

    Returns the files written.
    """
    if contacts < 1 or purchases < 0:
        raise ValueError("need at least one contact and a non-negative number of purchases")
    rng = random.Random(seed)
    data = root / "data"
    for sub in (data, root / "rules", root / "templates"):
        sub.mkdir(parents=True, exist_ok=True)
    written = write_static(root)
    companies = make_companies(rng, 2_000)
    write_companies(data / "companies.yaml", companies)
    people = write_contacts(data / "contacts.csv", rng, contacts, companies)
    write_purchases(data / "purchases.csv", rng, purchases, people)
    write_suppressions(data / "suppressions.csv", rng, people)
    names = ("companies.yaml", "contacts.csv", "purchases.csv", "suppressions.csv")
    return written + [data / name for name in names]


def human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def report(root: Path, written: Sequence[Path], seconds: float) -> None:
    print(f"wrote workspace {root} in {seconds:.1f} s")
    for path in sorted(written):
        print(f"  {path.relative_to(root)!s:<28} {human_size(path.stat().st_size):>10}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path, help="workspace folder to write")
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--purchases", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        written = generate(args.dir, args.contacts, args.purchases, args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    report(args.dir, written, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
