"""Alembic's entry point, run by `outreach.adapters.store.migrations` on the connection it is
given (in its transaction, under the store's write lock); there is no alembic.ini."""

from __future__ import annotations

from alembic import context

context.configure(
    connection=context.config.attributes["connection"],
    render_as_batch=True,  # SQLite alters most tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
