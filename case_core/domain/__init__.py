"""Pure domain rules (standard library and small pure libraries only): states, transitions, clock, serials."""
