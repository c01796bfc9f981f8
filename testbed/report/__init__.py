"""Results out: terminal table, results.json + CSV, HTML with plots, progress."""
