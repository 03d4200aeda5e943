"""The report's figures, one module each; every function writes one PNG and returns its path,
or None (with the reason logged) when there is nothing to draw."""
