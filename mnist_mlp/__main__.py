"""``python -m mnist_mlp`` is the ``mnist-mlp`` command."""

import sys

from mnist_mlp.cli.main import main

sys.exit(main())
