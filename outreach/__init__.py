"""outreach: personal outreach at scale, written down as rules and carried out on time."""

__version__ = "0.1.0"
