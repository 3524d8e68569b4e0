"""Adapters: the only code that touches files, the network, the clock and third-party I/O."""
