"""Live updates over websockets, for all three audiences: the hub that reads the event bus
once per process and fans it out (`hub`), and the feeds' routes (`routes`)."""
