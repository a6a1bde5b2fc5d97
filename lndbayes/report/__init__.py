"""Reports: presentation of a saved or fresh :class:`~lndbayes.analysis.ProgramAnalysis`.

``runner`` (incremental build, workers, Ctrl-C), ``build`` (one program in a worker),
``stamps`` (what a report depends on), ``notebook`` (Papermill, HTML export), ``views``
(HTML sections from templates), ``figures``, ``portfolio`` (reports/index.html). Numbers are
written as text by :mod:`lndbayes.formatting`, which the analysis layer shares. Nothing in this
package estimates anything.
"""
