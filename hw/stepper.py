"""STEP pulses for the TMC2209 (1/16 microstepping), timed by a PIO state machine.

Why PIO: a pulse train from a sleep loop blocks the pump and drifts, and on
MicroPython 1.24 an rp2 `machine.Timer` callback is scheduled (soft), so its
jitter is unbounded while the heap collects. The state machine below times
every pulse itself; the CPU only hands it one delay word per pulse and counts
what came out.

The program: pull a delay word n, spin n+1 cycles, then raise the STEP pin
with the same instruction that raises the state machine's IRQ (side-set), and
wait there until the IRQ is acknowledged. So a rising edge and its count are
one event: a pulse the motor saw is a pulse `emitted` counts, even when the
train is cancelled half way. At 10 kHz a PIO cycle is 0.1 ms:

  - from an idle FIFO, the edge comes n + 3 cycles after the word is put;
  - between pulses, edges are n + 5 cycles apart (IRQ set and acknowledged,
    pull, mov, loop exit).

The hard IRQ handler counts the pulse, feeds the next delay word from a ring
allocated once, and releases EN (active low) when nothing is left, so the
driver is only powered while it has steps to make. Nothing on the pulse path
allocates, and every delay word stays below 2**30 (offsets are capped at one
day), so no value on it is a long int on the RP2040.
"""
from array import array
import time

from machine import Pin, disable_irq, enable_irq
import rp2

TYPE_CHECKING = False
if TYPE_CHECKING:  # for pyright only: the board need not load the clock module here for a type
    from hw.wallclock import WallClock
from pump.compat import const

PIO_FREQ_HZ = const(10_000)
CYCLES_PER_MS = const(10)
MAX_OFFSET_MS = const(86_400_000)
_FIRST_OVERHEAD_CYCLES = const(3)
_GAP_OVERHEAD_CYCLES = const(5)
_FIFO_DEPTH = const(8)  # TX FIFO joined with the unused RX FIFO


@rp2.asm_pio(sideset_init=rp2.PIO.OUT_LOW, fifo_join=rp2.PIO.JOIN_TX)
def _step_program():
    # The PIO assembler's names exist only inside @rp2.asm_pio at run time;
    # the stubs cannot declare them, hence each line's suppression.
    pull(block)              .side(0)  # noqa: F821  # pyright: ignore[reportUndefinedVariable]
    mov(x, osr)              .side(0)  # noqa: F821  # pyright: ignore[reportUndefinedVariable]
    label("delay")                     # noqa: F821  # pyright: ignore[reportUndefinedVariable]
    jmp(x_dec, "delay")      .side(0)  # noqa: F821  # pyright: ignore[reportUndefinedVariable]
    irq(block, rel(0))       .side(1)  # noqa: F821  # pyright: ignore[reportUndefinedVariable]


class Stepper:
    """board.stepper: queue pulses, count them, cancel them, see a stall.

    `forward_dir_level` is the DIR level that moves the plunger into the
    reservoir (it depends on how the motor coils are wired). A limit switch
    (anything with `.active()`) active in the direction asked refuses the
    pulses: the plunger is at the end of its travel.
    """

    def __init__(self, sm_id, step_pin, dir_pin, enable_pin, diag_pin,
                 forward_dir_level=1, capacity=128, forward_limit=None, reverse_limit=None):
        self.capacity = capacity
        self._step_pin = step_pin
        self._dir = dir_pin
        self._enable = enable_pin
        self._diag = diag_pin
        self._forward_level = forward_dir_level
        self._forward_limit = forward_limit
        self._reverse_limit = reverse_limit
        self._ring = array("I", bytes(4 * capacity))
        self._ring_in = 0
        self._ring_out = 0
        self._queued = 0    # delay words in the ring, not yet in the PIO FIFO
        self._pending = 0   # pulses asked for and not yet emitted
        self._emitted = 0
        self._sign = 1
        self._forward = True
        self._last_due_ms = 0
        self._stall_seen = False
        self.forced_stall = False  # bench injection (protocol `bench`, jumper only)
        self.clock = None  # type: WallClock | None  # board.clock: offsets count from its last reading
        enable_pin.value(1)
        self._sm = rp2.StateMachine(sm_id)
        self._start()
        self._sm.irq(handler=self._on_pulse, hard=True)
        diag_pin.irq(handler=self._on_diag, trigger=Pin.IRQ_RISING, hard=True)

    @property
    def emitted(self):
        """Pulses that reached the motor since boot: forward minus reverse."""
        return self._emitted

    def pending(self):
        return self._pending

    def pulse(self, offsets_ms, count, forward=True):
        """Queue `count` pulses at offsets_ms[0:count] ms from now.

        Offsets must not decrease and stay within a day. They count from
        the last reading of `clock` (board.clock, when the board wired one):
        the controller computed them for that reading, and whatever came
        between it and this hand-off (a flash write takes tens of ms) is
        taken off, so a pulse is not late by it; one already due goes out at
        once. The caller may reuse `offsets_ms` as soon as this returns.
        Pulses added while others are pending follow them (same direction
        only). Returns how many were queued: 0 when the limit switch in that
        direction is closed.
        """
        if count <= 0:
            return 0
        limit = self._forward_limit if forward else self._reverse_limit
        if limit is not None and limit.active():
            return 0
        if count > self.capacity - self._queued:
            raise ValueError("step queue full")
        now = time.ticks_ms()
        spent = time.ticks_diff(now, self.clock.read_ticks) if self.clock is not None else 0
        if spent < 0:
            spent = 0
        previous = offsets_ms[0]
        if previous > MAX_OFFSET_MS:
            raise ValueError("step offset beyond a day")
        first = previous - spent if previous > spent else 0  # from now
        ring = self._ring
        slot = self._ring_in
        due = first
        for i in range(1, count):
            offset = offsets_ms[i]
            if offset < previous or offset > MAX_OFFSET_MS:
                raise ValueError("step offsets must not decrease")
            slot = (slot + 1) % self.capacity
            later = offset - spent if offset > spent else 0
            ring[slot] = _delay_word((later - due) * CYCLES_PER_MS - _GAP_OVERHEAD_CYCLES)
            previous, due = offset, later
        state = disable_irq()
        try:
            if self._pending and forward != self._forward:
                raise ValueError("direction change with pulses pending")
            if self._pending:
                gap_ms = time.ticks_diff(time.ticks_add(now, first), self._last_due_ms)
                ring[self._ring_in] = _delay_word(gap_ms * CYCLES_PER_MS - _GAP_OVERHEAD_CYCLES)
            else:
                self._forward = forward
                self._sign = 1 if forward else -1
                self._dir.value(self._forward_level if forward else 1 - self._forward_level)
                self._enable.value(0)
                ring[self._ring_in] = _delay_word(first * CYCLES_PER_MS - _FIRST_OVERHEAD_CYCLES)
            self._ring_in = (slot + 1) % self.capacity
            self._queued += count
            self._pending += count
            self._last_due_ms = time.ticks_add(now, due)
            self._feed_fifo()
        finally:
            enable_irq(state)
        return count

    def cancel(self):
        """Drop every pending pulse (alarm stop); returns how many were dropped.

        The state machine is stopped first: from then on no edge is made, and
        an edge made before has already raised its IRQ and been counted.
        """
        self._sm.active(0)
        state = disable_irq()
        dropped = self._pending
        self._pending = 0
        self._queued = 0
        self._ring_out = self._ring_in
        enable_irq(state)
        self._start()
        self._enable.value(1)
        return dropped

    def halt_toward(self, forward):
        """Cancel if moving in that direction (its limit switch was just reached)."""
        if self._pending and self._forward == forward:
            return self.cancel()
        return 0

    def stalled(self):
        """DIAG seen high since the last call (latched by its IRQ), or high
        now, or forced by a bench injection (`forced_stall`)."""
        seen = self._stall_seen or self._diag.value() == 1 or self.forced_stall
        self._stall_seen = False
        return seen

    def _start(self):
        # init() clears the FIFO, drives STEP low and leaves the program at pull.
        self._sm.init(_step_program, freq=PIO_FREQ_HZ, sideset_base=self._step_pin)
        self._sm.active(1)

    def _feed_fifo(self):
        # Runs with IRQs off or inside the pulse IRQ; allocates nothing.
        sm = self._sm
        while self._queued and sm.tx_fifo() < _FIFO_DEPTH:
            sm.put(self._ring[self._ring_out])
            self._ring_out = (self._ring_out + 1) % self.capacity
            self._queued -= 1

    def _on_pulse(self, _sm):
        self._emitted += self._sign
        if self._pending:
            self._pending -= 1
        self._feed_fifo()
        if not self._pending:
            self._enable.value(1)

    def _on_diag(self, _pin):
        self._stall_seen = True


def _delay_word(cycles):
    return cycles if cycles > 0 else 0
