"""Material auto-perception and error correction (6.7.9): read, recognise, check and explain uploaded photos."""
