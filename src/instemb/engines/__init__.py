"""Execution engines for embedding beyond one process (``instemb embed --engine ray``)."""
