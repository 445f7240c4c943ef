"""The machinery of ``bench/compare.py``: a study as resumable steps (:mod:`study.steps`),
planned (:mod:`study.plan`), ordered and watched (:mod:`study.schedule`,
:mod:`study.processes`), kept beyond its run folders (:mod:`study.record`) and reported
(:mod:`study.results`)."""
