"""Turning results into what people read: tabulate tables and matplotlib figures."""
