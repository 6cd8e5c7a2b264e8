"""faceledger's benchmarks: accuracy (LFW, WIDER FACE), speed (runtimes, ingest, vector
indexes) and the opt-out list, measured on public data sets.

A package beside the library, not inside it: it imports :mod:`faceledger`, and
:mod:`faceledger` never imports it (the ``faceledger bench`` command loads it on demand;
``tests/unit/test_api_layering.py`` holds that line). Nothing here runs at import time.
"""
