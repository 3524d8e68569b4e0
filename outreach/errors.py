"""The one exception tree of outreach.

    OutreachError              anything outreach raises on purpose
    ├── UsageError             the command line is wrong                        -> exit 2
    └── UserError              a problem in the user's files or data            -> exit 1
        ├── WorkspaceError     no usable workspace (no outreach.yaml, bad config)
        └── StoreError         the store cannot be used as it is: in memory, an older
            │                  schema (`outreach db upgrade`), not this workspace's
            └── StoreLost      the store's file vanished or was replaced while in use

Problems in rule files, templates and data rows are not exceptions: they are collected as
`outreach.core.problems.Problem` values so that one bad row, rule or template never stops
the rest.
"""


class OutreachError(Exception):
    """Base of every error outreach raises on purpose."""


class UsageError(OutreachError):
    """The command line asks for something impossible (exit 2)."""


class UserError(OutreachError):
    """Something in the user's files or data needs fixing (exit 1)."""


class WorkspaceError(UserError):
    """The workspace cannot be used at all: no outreach.yaml, or one that does not load."""


class StoreError(UserError):
    """The store cannot be used as it is; the message says what to do."""


class StoreLost(StoreError):
    """The store's file was deleted or replaced while outreach worked on it: nothing more may
    be sent or recorded."""
