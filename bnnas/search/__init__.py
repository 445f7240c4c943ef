"""Architecture search strategies; :mod:`bnnas.search.methods` lists them by name."""
