"""Use cases: load a queue, let the domain decide, write everything in one transaction,
then publish the events."""
