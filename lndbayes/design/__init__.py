"""From an organisation's tables to what a model reads: the panel of one (program, outcome)
(:mod:`~lndbayes.design.panel`, with :mod:`~lndbayes.design.arms` and
:mod:`~lndbayes.design.outcomes`), the balance of its arms (:mod:`~lndbayes.design.balance`),
the study designs (:mod:`~lndbayes.design.designs`) and the design matrix
(:mod:`~lndbayes.design.matrix`)."""
