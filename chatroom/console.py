"""The server's console: one thread of its own prints the log, so that nobody waits for it.

A console can stop taking output: a terminal paused with Ctrl-S (or, on
Windows, by a click that starts selecting text), or a pipe into ``less``
that nobody scrolls. A print then waits until the console moves again. If
each client's thread printed its own log lines, one paused console would
stop the whole chat. So those threads only put their lines in a queue,
which never waits: when QUEUE_LINES lines wait already, a new one is
dropped and counted, and the console says how many once it moves again.
The chat itself loses nothing.
"""

import logging
import logging.handlers
import queue
import threading
import time

QUEUE_LINES = 1000  # log lines that may wait for a paused console
DROPPED = "… {:,} log lines dropped while the console was blocked"


class DroppingQueueHandler(logging.handlers.QueueHandler):
    """Puts each log record in a bounded queue, or drops it, and counts it, when the queue is full.

    The first record that fits after some were dropped carries their count
    in ``dropped_before``, so that the console can say where lines are missing.
    """

    def __init__(self, records):
        super().__init__(records)
        self.dropped = 0

    def enqueue(self, record):  # logging calls this with the handler's lock held
        record.dropped_before = self.dropped
        try:
            self.queue.put_nowait(record)
        except queue.Full:  # the stock enqueue would print a traceback for each one
            self.dropped += 1
        else:
            self.dropped = 0

    def take_dropped(self):
        """How many records were dropped since the last one that fit; counting starts again."""
        with self.lock:
            dropped, self.dropped = self.dropped, 0
        return dropped


class Console:
    """Prints the log (the root logger's records, INFO and up) to ``stream``, from a thread
    of its own."""

    def __init__(self, stream, fmt="%(asctime)s %(message)s", datefmt="%H:%M:%S",
                 max_lines=QUEUE_LINES):
        self.handler = DroppingQueueHandler(queue.Queue(max_lines))
        self.output = logging.StreamHandler(stream)
        self.output.setFormatter(logging.Formatter(fmt, datefmt))
        self._thread = threading.Thread(target=self._print_records, name="chatroom-console",
                                        daemon=True)
        self._thread.start()
        root = logging.getLogger()
        root.addHandler(self.handler)
        root.setLevel(logging.INFO)

    def _print_records(self):
        records = self.handler.queue
        while True:
            record = records.get()
            if record is None:  # close(): nothing comes after this
                self._say_dropped(self.handler.take_dropped())
                return
            self._say_dropped(record.dropped_before)
            self.output.handle(record)  # waits here while the console is paused
            if records.empty():  # no record after the dropped ones carries their count
                self._say_dropped(self.handler.take_dropped())

    def _say_dropped(self, count):
        if count:
            self.output.handle(logging.makeLogRecord(
                {"msg": DROPPED.format(count), "levelno": logging.WARNING, "levelname": "WARNING"}))

    def close(self, timeout):
        """Take no more records; True if those waiting were printed within ``timeout`` seconds."""
        logging.getLogger().removeHandler(self.handler)
        deadline = time.monotonic() + timeout
        try:
            self.handler.queue.put(None, timeout=timeout)
        except queue.Full:
            return False
        self._thread.join(max(0.0, deadline - time.monotonic()))
        return not self._thread.is_alive()
