"""Exercise 2, for lesson 2 (threads and locks): a roster that many threads share.

Write the bodies of ``add``, ``remove`` and ``snapshot``. Check your work with
    python tests/grade.py --student -k ex02
"""

import threading


class Roster:
    """The names of the people in a room, safe to use from many threads at once.

    Every method holds ``self.lock`` while it reads or changes ``self.names``,
    so that checking ("is the name here?") and acting ("append it") happen
    as one step that no other thread can split.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.names = []

    def add(self, name):
        """Add ``name`` unless it is already here; return True if it was added."""
        ### BEGIN SOLUTION
        with self.lock:
            if name in self.names:
                return False
            self.names.append(name)
            return True
        ### END SOLUTION

    def remove(self, name):
        """Remove ``name`` if it is here; return True if it was removed."""
        ### BEGIN SOLUTION
        with self.lock:
            if name not in self.names:
                return False
            self.names.remove(name)
            return True
        ### END SOLUTION

    def snapshot(self):
        """A new list of the names, in the order they were added.

        The caller may loop over it, or change it, while other threads keep
        adding and removing: it must be a copy, not ``self.names`` itself.
        """
        ### BEGIN SOLUTION
        with self.lock:
            return list(self.names)
        ### END SOLUTION
