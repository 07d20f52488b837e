"""Settings for the whole suite."""

from hypothesis import settings

# No per-example deadline: timings belong in benchmarks/, and a deadline fails a correct
# property test whenever the machine is busy (CI runs the suite on 2 cores, in parallel).
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")
