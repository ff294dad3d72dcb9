"""The dashboard's data: every run found, its machine, its headline figures, the verdict per machine
(``verdict``: the fastest way to train and serve, the gate), scores and changes.

Data only (no HTML, no plotting): ``mnist_mlp.report.dashboard`` renders what this builds, so the
numbers the page shows can be tested without a browser, and the "Changes" page follows
``mnist_mlp.compare`` (it calls compare's own functions) instead of repeating its rules.
"""
