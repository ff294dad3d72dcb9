"""The accuracy gate's power and its out-of-sample false alarms (issue 10).

    python benchmarks/gate_power.py run --out reports/calibration/power --seeds 10-19 \
        healthy label_shuffle=0.05,0.1,0.2 epochs=1,2,4 learning_rate=0.0001,0.005,0.01 hidden_units=16,32,64
    python benchmarks/gate_power.py report reports/calibration/power
    python benchmarks/gate_power.py false-alarms reports/calibration/out-of-sample/RUN [RUN ...]

``run`` trains each regression (``mnist_mlp.gate.regressions``) on every seed, one process per
regression, and keeps the accuracies (``mnist_mlp.gate.power_study``); ``report`` writes ``power.md``
and ``power.png`` beside them (``mnist_mlp.gate.power``); ``false-alarms`` judges healthy runs
of unseen seeds and writes ``false_alarms.md`` in their parent folder
(``mnist_mlp.gate.false_alarms``). All three judge with the shipped thresholds unless
``--thresholds`` names another file. Exit codes: 0 done, 2 bad input, 3 a training process failed
(what finished is kept), 130 Ctrl-C.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from a checkout

from mnist_mlp.cli.gate_study import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
