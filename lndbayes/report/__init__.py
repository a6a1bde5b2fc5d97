"""Reports: presentation of a saved or fresh :class:`~lndbayes.analysis.ProgramAnalysis`.

``runner`` (incremental build, workers, Ctrl-C), ``build`` (one program in a worker),
``stamps`` (what a report depends on), ``notebook`` (Papermill, HTML export), ``views``
(HTML sections from templates), ``figures``, ``format`` (numbers as text), ``portfolio``
(reports/index.html). Nothing in this package estimates anything.
"""
