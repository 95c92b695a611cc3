"""Set before torch loads OpenMP: its waiting threads spin a thirtieth of the usual time.

A spinning thread holds its core; beside other work, torch's threads spin against each other
and a page takes many times as long (`write` of one sentence beside a two-thread job: 18-68 s
with GNU OpenMP's default spin, 11 s with this; a letter alone 8.0 s and 8.3 s; the same ink
either way: docs/BENCHMARKS.md, "Page speed"). Only GNU OpenMP reads it; a value the user set
is kept.
"""

import os

os.environ.setdefault("GOMP_SPINCOUNT", "10000")
