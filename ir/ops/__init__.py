"""The op definitions of the theon dialect, grouped by kind."""
