"""Email addresses, read one way everywhere.

`deliverable(text)` is strict: the address a message may be written to, or ValueError saying
why — never something a mail library would turn into an empty or different recipient.

`suppression_key(text)` is lenient: which mailbox an address reaches, however it is spelled.
A comment (`ann@example.test(home)`), a display name, letter case, a trailing dot, an IDN
domain in Unicode or in punycode, a `+tag`: all reach the same mailbox, so all meet the same
suppression entry. When in doubt, two spellings are taken to be one person.

`display_name(text)` is the name shown beside an address (`Name <address>`), made safe for
every channel alike.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata

MAX_LOCAL = 64
MAX_DOMAIN = 253
# RFC 5322 atext (internationalised local parts, RFC 6531, are refused: few servers take them).
_ATOM = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_COMMENT = re.compile(r"\([^()]*\)")
_NAMED = re.compile(r"[^<>,;]*<([^<>]*)>")  # Ann Lee <ann@example.test>
_SEPARATORS = re.compile(r"[;,\s]+")


def deliverable(text: str) -> str:
    """`local@domain`, checked: the one mailbox a message to `text` reaches, its domain in
    the form DNS knows (lower case; `dæmi.is` as `xn--dmi-yla.is`). ValueError with the
    reason for anything else (a display name, a comment, quotes, a trailing dot...)."""
    address = text.strip()
    if "<" in address or "(" in address:
        raise ValueError("write the bare address (name@example.com): no name, <> or (comment)")
    if not address or any(c.isspace() or not c.isprintable() for c in address):
        raise ValueError("an address has no spaces or control characters")
    local, at, domain = address.rpartition("@")
    if not at or not local:
        raise ValueError("an address needs a name before an @ and a domain after it")
    _check_local(local)
    ascii_domain = _ascii_domain(domain)
    _check_domain(ascii_domain)
    return f"{local}@{ascii_domain}"  # the DNS form: every mail server takes it


def _check_local(local: str) -> None:
    if len(local) > MAX_LOCAL:
        raise ValueError(f"the part before the @ is longer than {MAX_LOCAL} characters")
    for atom in local.split("."):
        if not atom:
            raise ValueError("the part before the @ has a dot at its start, its end or twice")
        if not atom.isascii():
            raise ValueError(
                "the part before the @ has letters outside ASCII, which most mail servers "
                "do not take"
            )
        if not _ATOM.match(atom):
            raise ValueError(
                "the part before the @ holds characters an address cannot have "
                "(quotes, brackets, commas, comments...)"
            )


def _ascii_domain(domain: str) -> str:
    try:
        return domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValueError(f"'{domain}' is not a domain name") from None


def _check_domain(domain: str) -> None:
    if not domain or len(domain) > MAX_DOMAIN:
        raise ValueError("the domain after the @ is empty or too long")
    if domain.endswith("."):
        raise ValueError("the domain ends with a dot; remove it")
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise ValueError(f"'{domain}' is not a domain name (like example.com)")
    if labels[-1].isdigit():
        raise ValueError(f"'{domain}' is not a domain name (like example.com)")


MAX_DISPLAY_NAME = 200
_NAME_DROPPED = str.maketrans("", "", '"\\<>')  # quotes and brackets frame an address
_JOINERS = frozenset("\u200c\u200d")  # zero-width (non-)joiners: part of some scripts' words


def display_name(text: str) -> str:
    """The name to show beside an address: on one line, without control or invisible
    characters (a bidi override could reorder what the reader sees), quotes or angle
    brackets. "" (the bare address) for a name that holds an @, which could pose as another
    mailbox, or an encoded word (`holds_encoded_word`), or is too long to be a name.
    Encoding it for a header is the channel's part."""
    kept = "".join(map(_name_char, unicodedata.normalize("NFC", text)))
    name = " ".join(kept.translate(_NAME_DROPPED).split())
    posing = "@" in name or holds_encoded_word(name)
    return "" if posing or len(name) > MAX_DISPLAY_NAME else name


_ENCODED_WORD = re.compile(r"=\?[^?\s]*\?[bBqQ]\?")  # =?utf-8?b?...?= (RFC 2047)


def holds_encoded_word(text: str) -> bool:
    """Does `text` hold what mail programs (and Python's email package, as a header is set)
    decode as an encoded word? Decoded, it can become any text: an address, a line break
    and a header of its own."""
    return _ENCODED_WORD.search(text) is not None


def _name_char(c: str) -> str:
    category = unicodedata.category(c)
    if category == "Cc":  # a line break or tab parts words
        return " "
    return "" if category[0] == "C" and c not in _JOINERS else c


def suppression_key(text: str) -> str:
    """The mailbox `text` reaches, as one comparable string: for matching suppressions and
    opt-outs, never for sending. Text without an @ comes back cleaned, as written."""
    value = _visible(text).strip()
    if "<" in value and ">" in value.rpartition("<")[2]:  # Name <address>
        value = value.rpartition("<")[2].partition(">")[0]
    while _COMMENT.search(value):
        value = _COMMENT.sub("", value)
    value = "".join(value.split())
    local, at, domain = value.rpartition("@")
    if not at:
        return value.casefold()
    local = local.strip('"').casefold().partition("+")[0]
    domain = domain.rstrip(".")
    with contextlib.suppress(UnicodeError):  # not a domain IDNA knows: compared as written
        domain = domain.encode("idna").decode("ascii")
    return f"{local}@{domain.casefold()}"


def entries_in(text: str) -> list[str]:
    """The entries a cell holds, however it lists them: `ann@x.test; bob@x.test`,
    `Ann <ann@x.test>, Bo <bo@x.test>`, `mailto:ann@x.test`, `ann@x.test (home)`."""
    text = _NAMED.sub(r"\1", _COMMENT.sub("", _visible(text)))
    entries = []
    for entry in _SEPARATORS.split(text):
        entry = entry.strip("<>\"'")
        if entry.lower().startswith("mailto:"):
            entry = entry[len("mailto:") :]
        if entry:
            entries.append(entry)
    return entries


def addresses_in(text: str) -> list[str]:
    """Every address a cell mentions (see `entries_in`), as written."""
    return [entry for entry in entries_in(text) if "@" in entry.strip("@")]


def _visible(text: str) -> str:
    """Without invisible characters (zero-width spaces, soft hyphens, a BOM): they change
    no mailbox, only whether two spellings compare equal."""
    return "".join(
        c for c in unicodedata.normalize("NFKC", text) if unicodedata.category(c) != "Cf"
    )
