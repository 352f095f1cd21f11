"""``python -m benchmarks`` (``make bench``): the whole suite as JSON, under the runtime's
threading (one BLAS thread, set before numpy loads)."""
import sys

from runtime.commands.process import one_blas_thread

one_blas_thread()

from benchmarks.suite import main  # noqa: E402  (after the thread setting)

sys.exit(main())
