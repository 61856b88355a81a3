"""The pure queue domain: standard library only, synchronous, time passed in."""
