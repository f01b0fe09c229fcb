"""Reports read results only: tables, figures, HTML and comparisons (built in a later issue)."""
