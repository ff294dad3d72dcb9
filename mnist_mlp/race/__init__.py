"""The open division: how fast each implementation gets the seed's network to the seed's 97.9%.

MLPerf's open division keeps the task and the quality target and frees the recipe. Here:

* ``recipe``: a recipe as data (batch, Adam's settings, a per-epoch learning-rate schedule, an
  epoch budget), read from ``recipes.json`` in this package or from ``--recipe FILE``;
* ``rules``: the rules, printed with every result, and the score (the olympic mean over seeds,
  the misses rule), judged as data;
* ``runner``: one racer per implementation family (Keras' own ``fit`` with its
  ``LearningRateScheduler`` and a callback that evaluates and stops; the native trainers), the
  clock and its parts, the weights kept as evidence.
"""
