"""What flows look like on the wire: per-app openings as real bytes, codec timing, circumvention."""
