"""Reports read results only (never run engines): HTML report, Markdown summary, CSV, compare."""
