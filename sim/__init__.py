"""A discrete-event simulator of a working day that drives the real queue engine."""
