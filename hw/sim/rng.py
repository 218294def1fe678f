"""A seeded integer PRNG the simulator uses for sensor noise and posture.

CPython's `random` and MicroPython's differ, so the simulator carries its own
(xorshift32): the same seed gives the same noise, bit for bit, under both
interpreters, which is what makes their reports identical.
"""


class XorShift32:
    def __init__(self, seed):
        self.state = (seed * 2654435761 + 1) & 0xFFFFFFFF or 1

    def next_u32(self):
        x = self.state
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.state = x
        return x

    def below(self, n):
        """Uniform integer in [0, n)."""
        return self.next_u32() % n

    def between(self, low, high):
        """Uniform integer in [low, high]."""
        return low + self.below(high - low + 1)

    def gauss(self, sigma):
        """Approximately normal integer, mean 0, standard deviation `sigma`:
        the sum of 12 uniform 16-bit draws (Irwin-Hall) has sigma 2**16."""
        total = 0
        for _ in range(12):
            total += self.next_u32() >> 16
        return (total - 6 * 65536) * sigma // 65536
