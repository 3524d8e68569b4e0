"""Use cases: load a workspace, validate, preview, explain, init. They wire core to adapters."""
