"""`python -m bench.profiled OUT.txt englog-args...`: run the englog CLI under pyinstrument
and write a text report when it exits (after a graceful SIGTERM).

uvicorn >= 0.29 wraps `Server.serve` in `capture_signals()`, which swallows SIGTERM and
re-raises it when HTTP stops, so the CLI sees a second signal and `os._exit`s before any
report is written; here that capture is switched off (the CLI's own handler stays)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import uvicorn
from pyinstrument import Profiler


def main() -> None:
    out, args = Path(sys.argv[1]), sys.argv[2:]
    from englog.cli import main as englog_main

    sys.argv = ["englog", *args]
    uvicorn.Server.capture_signals = contextlib.nullcontext  # type: ignore[assignment,method-assign]
    profiler = Profiler(interval=0.001)
    profiler.start()
    try:
        englog_main()
    except SystemExit:
        pass
    finally:
        profiler.stop()
        out.write_text(profiler.output_text(unicode=True, show_all=False))
        # The full session, for `pyinstrument --load FILE --show-all` later.
        profiler.last_session.save(str(out.with_suffix(".pyisession")))


if __name__ == "__main__":
    main()
