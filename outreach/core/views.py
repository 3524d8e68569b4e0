"""What templates and `when:` conditions see: plain dicts built from the model."""

from __future__ import annotations

from typing import Any

from outreach.core.model import Company, Contact, Owner, Purchase


def contact_view(contact: Contact, timezone: str, locale: str) -> dict[str, Any]:
    view: dict[str, Any] = {"name": contact.name, **contact.fields}  # a `name` column wins
    view.update(
        id=contact.id,
        tags=list(contact.tags),
        opted_out=contact.opted_out,
        timezone=timezone,
        locale=locale,
    )
    return view


def company_view(company: Company | None) -> dict[str, Any] | None:
    if company is None:
        return None
    return {
        **company.extra,
        "id": company.id,
        "name": company.name,
        "aliases": list(company.aliases),
        "domain": company.domain or "",
        "context": list(company.context),
    }


def owner_view(owner: Owner | None) -> dict[str, Any] | None:
    if owner is None:
        return None
    return {"email": owner.email, "name": owner.name, "title": owner.title, "phone": owner.phone}


def purchase_view(purchase: Purchase) -> dict[str, Any]:
    return {
        **purchase.extra,
        "id": purchase.id,
        "date": purchase.date,
        "amount": purchase.amount,
        "currency": purchase.currency,
        "product": purchase.product,
    }
