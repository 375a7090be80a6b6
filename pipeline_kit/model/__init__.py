"""The pure domain: items, versions, constraints and actions. No I/O happens here."""
