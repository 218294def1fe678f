"""A fake `rp2` for CPython tests: the PIO assembler and a cycle-by-cycle StateMachine.

`asm_pio` assembles the program the way the real one does (the assembler's
names are put in the function's globals while it runs), and StateMachine
executes it at its frequency on fake_machine's simulated clock: pull, mov,
jmp (x_dec and unconditional), irq (with rel and block), nop, side-set and
delays. A stalled instruction completes on the cycle it finds its condition
met; the next instruction runs on the next cycle. Anything else raises
NotImplementedError rather than pretend. Installed by fake_machine.installed().
"""
import types

import fake_machine

_MASK32 = 0xFFFFFFFF


class FakePIO:
    IN_LOW, IN_HIGH, OUT_LOW, OUT_HIGH = 0, 1, 2, 3
    SHIFT_LEFT, SHIFT_RIGHT = 0, 1
    JOIN_NONE, JOIN_TX, JOIN_RX = 0, 1, 2


class _Instruction:
    def __init__(self, op, args):
        self.op, self.args, self.side_value, self.delay = op, args, None, 0

    def side(self, value):
        self.side_value = value
        return self

    def __getitem__(self, delay):
        self.delay = delay
        return self


class _Program:
    def __init__(self, name, instructions, labels, sideset_init, fifo_join):
        self.name, self.instructions, self.labels = name, instructions, labels
        self.sideset_init, self.fifo_join = sideset_init, fifo_join


_OPERANDS = ("x", "y", "osr", "isr", "pins", "pindirs", "null", "block", "noblock",
             "x_dec", "y_dec", "not_x", "not_y", "clear")


def asm_pio(*, sideset_init=None, fifo_join=FakePIO.JOIN_NONE, **_ignored):
    def assemble(program_function):
        instructions, labels = [], {}

        def emit(op):
            def instruction(*args):
                instructions.append(_Instruction(op, args))
                return instructions[-1]
            return instruction

        names = {name: name for name in _OPERANDS}
        names.update({op: emit(op) for op in ("pull", "mov", "jmp", "irq", "nop", "set")})
        names["label"] = lambda name: labels.__setitem__(name, len(instructions))
        names["rel"] = lambda index: ("rel", index)
        scope = program_function.__globals__
        saved = {name: scope[name] for name in names if name in scope}
        scope.update(names)
        try:
            program_function()
        finally:
            for name in names:
                if name in saved:
                    scope[name] = saved[name]
                else:
                    del scope[name]
        return _Program(program_function.__name__, instructions, labels, sideset_init, fifo_join)
    return assemble


class FakeStateMachine:
    def __new__(cls, sm_id, *args, **kwargs):
        sm = fake_machine._world.state_machines.get(sm_id)
        if sm is None:
            sm = object.__new__(cls)
            sm.id = sm_id
            sm.program = None
            sm.running = False
            sm.next_cycle_us = None
            sm.handler = None
            sm.hard = False
            sm.inits = 0
            fake_machine._world.state_machines[sm_id] = sm
        return sm

    def __init__(self, sm_id, program=None, *args, **kwargs):
        if program is not None:
            self.init(program, *args, **kwargs)

    def init(self, program, freq=-1, *, sideset_base=None, **_pins):
        if not 1908 <= freq <= 125_000_000:
            raise ValueError("freq out of range")
        if 1_000_000 % freq:
            raise NotImplementedError("the fake runs PIO on a whole-us cycle")
        self.program, self.cycle_us = program, 1_000_000 // freq
        self.depth = 8 if program.fifo_join == FakePIO.JOIN_TX else 4
        self.fifo, self.pc, self.x, self.osr = [], 0, 0, 0
        self.running, self.next_cycle_us, self.started_us = False, None, None
        self.waiting_irq = False
        self.sideset_pin = fake_machine.FakePin(sideset_base.id) if sideset_base is not None else None
        if self.sideset_pin is not None:
            self.sideset_pin.mode = fake_machine.FakePin.ALT
            self.sideset_pin._set(1 if program.sideset_init == FakePIO.OUT_HIGH else 0)
        self.inits += 1

    def active(self, value=None):
        if value is None:
            return self.running
        if value and not self.running:
            self.running, self.started_us = True, fake_machine._world.now_us
            self.next_cycle_us = fake_machine._world.now_us
        elif not value:
            self.running, self.next_cycle_us = False, None
        return self.running

    def irq(self, handler=None, trigger=1, hard=False):
        self.handler, self.hard = handler, hard

    def put(self, value, shift=0):
        if len(self.fifo) >= self.depth:
            raise AssertionError("TX FIFO full: put() would block the caller")
        if not 0 <= value <= _MASK32:
            raise AssertionError("PIO word out of 32-bit range: %r" % value)
        self.fifo.append((value << shift) & _MASK32)
        if self.running and self.next_cycle_us is None:
            elapsed = fake_machine._world.now_us - self.started_us
            self.next_cycle_us = self.started_us + -(-elapsed // self.cycle_us) * self.cycle_us

    def tx_fifo(self):
        return len(self.fifo)

    def cycle(self):
        """Run the instruction at pc on the cycle starting now."""
        instruction = self.program.instructions[self.pc]
        if instruction.side_value is not None and self.sideset_pin is not None:
            self.sideset_pin._set(instruction.side_value)
        cycles = 1
        op, args = instruction.op, instruction.args
        if op == "pull":
            if not self.fifo:
                if args and args[0] == "noblock":
                    self.osr = self.x
                else:
                    self.next_cycle_us = None   # stalled until put()
                    return
            else:
                self.osr = self.fifo.pop(0)
            self._advance()
        elif op == "mov":
            if args != ("x", "osr"):
                raise NotImplementedError("mov%r" % (args,))
            self.x = self.osr
            self._advance()
        elif op == "jmp":
            target = self.program.labels[args[-1]]
            condition = args[0] if len(args) == 2 else None
            if condition is None:
                self.pc = target
            elif condition == "x_dec":
                if target == self.pc and not instruction.delay:
                    cycles = self.x + 1   # a delay loop: run it in one go
                    self.x = _MASK32
                    self._advance()
                else:
                    taken = self.x != 0
                    self.x = (self.x - 1) & _MASK32
                    if taken:
                        self.pc = target
                    else:
                        self._advance()
            else:
                raise NotImplementedError("jmp(%s, ...)" % condition)
        elif op == "irq":
            if not self._irq(args, instruction.delay):
                return
        elif op == "nop":
            self._advance()
        elif op == "set":
            raise NotImplementedError("set() (the fake has no set pins)")
        else:
            raise NotImplementedError(op)
        self.next_cycle_us = fake_machine._world.now_us + (cycles + instruction.delay) * self.cycle_us

    def _irq(self, args, delay):
        """False when the instruction stalls (next cycle already scheduled)."""
        mode, index = args if len(args) == 2 else (None, args[0])
        if mode not in (None, "block"):
            raise NotImplementedError("irq(%s, ...)" % mode)
        pio, local = divmod(self.id, 4)
        flag = 1 << ((index[1] + local) % 4 if isinstance(index, tuple) else index)
        if self.waiting_irq:
            if fake_machine._world.pio_flags[pio] & flag:
                self.next_cycle_us = None   # nobody in the fake will clear it
                return False
            self.waiting_irq = False
            self._advance()
            return True
        fake_machine._world.pio_flags[pio] |= flag
        if self.handler is not None:
            fake_machine._world.pio_flags[pio] &= ~flag   # the C handler acknowledges first
            self.handler(self)
            if not self.running:
                return False
        if mode is None:
            self._advance()
            return True
        self.waiting_irq = True
        self.next_cycle_us = fake_machine._world.now_us + self.cycle_us
        return False

    def _advance(self):
        self.pc = (self.pc + 1) % len(self.program.instructions)


def module():
    rp2 = types.ModuleType("rp2")
    rp2.PIO = FakePIO
    rp2.StateMachine = FakeStateMachine
    rp2.asm_pio = asm_pio
    return rp2
