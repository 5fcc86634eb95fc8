"""``python -m taskset_torch.cli``: run the ``taskset-torch`` command."""

import signal
import sys

from taskset_torch.cli import _exit_130, main

# Ctrl-C before main() is reached (main() imports torch first) exits quietly with 130; main()
# restores the usual handler. The package imported above holds only standard-library imports.
signal.signal(signal.SIGINT, _exit_130)
sys.exit(main())
