"""More model packs: dlib (PyPI) and opt-in research packs."""
