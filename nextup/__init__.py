"""The composition root: the `nextup` command and the one place that builds concrete
adapters from settings. It alone imports every other package; nothing imports it back
(`make lint` checks that)."""
