"""Records that grow through a whole simulated run, kept in small pieces.

A run with thousands of power cuts boots the pump thousands of times, and
each boot leaves its garbage all over the MicroPython heap. A record kept
in one array must find a contiguous block the size of the whole array each
time it grows; after a few thousand boots there is none, though most of
the heap is free. Kept in arrays of CHUNK items, a record never asks for
more than one chunk (2 KB of 64-bit ints) at a time.
"""
from array import array

CHUNK = 256


class Chunked:
    """A growing array of one typecode (array module), or with typecode None
    a list of any items, in chunks of CHUNK items: append, extend, len,
    iteration, and item get and set by index from 0."""

    def __init__(self, typecode):
        self.typecode = typecode
        self.chunks = []
        self.length = 0

    def append(self, value):
        if self.length % CHUNK == 0:
            self.chunks.append([] if self.typecode is None else array(self.typecode))
        self.chunks[-1].append(value)
        self.length += 1

    def extend(self, values):
        for value in values:
            self.append(value)

    def __len__(self):
        return self.length

    def __iter__(self):
        for chunk in self.chunks:
            for value in chunk:
                yield value

    def __getitem__(self, i):
        return self.chunks[i // CHUNK][i % CHUNK]

    def __setitem__(self, i, value):
        self.chunks[i // CHUNK][i % CHUNK] = value
