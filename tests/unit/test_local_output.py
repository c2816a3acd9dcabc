"""The local runtime's output keeps each line whole while handler threads print at the same time."""

import io
import threading
import time

from happypath_local.server import LineAtomicWriter


class SlowSink(io.StringIO):
    """A terminal or pipe: each write may let another thread run (unwrapped, lines then interleave)."""

    def write(self, text: str) -> int:
        time.sleep(0)
        return super().write(text)


def test_lines_printed_by_many_threads_stay_whole():
    sink = SlowSink()
    lock = threading.Lock()
    stdout, stderr = LineAtomicWriter(sink, lock), LineAtomicWriter(sink, lock)

    def chatter(n: int) -> None:
        for i in range(300):
            print(f'{{"thread": {n}, "line": {i}}}', file=stdout if n % 2 else stderr)  # text, then "\n"

    threads = [threading.Thread(target=chatter, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = sink.getvalue().splitlines()
    assert len(lines) == 8 * 300
    assert all(line.startswith('{"thread": ') and line.endswith("}") and line.count("{") == 1 for line in lines)


def test_flush_writes_a_partial_line():
    sink = io.StringIO()
    writer = LineAtomicWriter(sink, threading.Lock())
    writer.write("Stopping: saving data...")
    assert sink.getvalue() == ""
    writer.flush()
    assert sink.getvalue() == "Stopping: saving data..."
