"""The verdicts of step and loop mode: every parameter tensor, every parameter average and every loss of the port
against the original's, with no waiver.

- ``float64`` (both sides compute in float64 from the same state on the same inputs and fed random numbers):
  a tensor passes when ``max|port - original| / max|original| <= TOL64``. The one exception is a tensor whose
  exact update is zero (a bias that a following normalization cancels: its gradient is rounding noise on both
  sides, so its relative difference is noise over noise). Such a tensor is judged on an absolute scale,
  ``max|port - original| <= ZERO_UPDATE_FRACTION * lr * steps`` (a billionth of what Adam can move it), and only
  when :class:`ZeroUpdates` has shown it: its float64 gradient below ``ZERO_GRADIENT_FRACTION`` of its layer's
  gradient scale on *both* sides at every step. Those tensors are listed by name with that evidence.
- ``float32`` (both sides in float32): a tensor passes when its difference is at most ``CONTROL_MULTIPLE`` times
  the original's own float32-vs-float64 spread for that tensor (the original run a second time with
  ``floatX=float64``), with a floor of ``FLOAT32_FLOOR`` for tensors the spread leaves at zero.
- a given limit (loop mode, :mod:`.loop`: over hundreds of iterations GAN training amplifies rounding, in the
  original as in the port, so the limit there comes from a control run of the original).

Losses are judged as tensors of one element.
"""
import numpy as np

TOL64 = 1e-9
ZERO_GRADIENT_FRACTION = 1e-9
ZERO_UPDATE_FRACTION = 1e-9
CONTROL_MULTIPLE = 30.0
FLOAT32_FLOOR = 1e-6
FLOAT64_FLOOR = 1e-12
PRECISIONS = ("float64", "float32")


def rel_diff(original, port):
    """``max|port - original| / max|original|`` (the absolute difference where the original is all zero);
    ``inf`` for different shapes or a non-finite value on one side only."""
    original = np.asarray(original, np.float64)
    port = np.asarray(port, np.float64)
    if original.shape != port.shape:
        return float("inf")
    if not original.size:
        return 0.0
    finite_a, finite_b = np.isfinite(original), np.isfinite(port)
    if not np.array_equal(finite_a, finite_b):
        return float("inf")
    if not finite_a.all():
        if not np.array_equal(original[~finite_a], port[~finite_a]):
            return float("inf")
        original, port = original[finite_a], port[finite_a]
        if not original.size:
            return 0.0
    scale = np.abs(original).max()
    diff = np.abs(original - port).max()
    return float(diff / scale) if scale > 0 else float(diff)


def abs_diff(original, port):
    original = np.asarray(original, np.float64)
    port = np.asarray(port, np.float64)
    if original.shape != port.shape:
        return float("inf")
    return float(np.abs(original - port).max()) if original.size else 0.0


def layer_of(name):
    """The port layer of a tensor name such as ``"conv_1.b [3:WeightNormLayer.b]"``."""
    return name.split(" ")[0].rsplit(".", 1)[0]


class ZeroUpdates:
    """Which trainable tensors have a zero exact gradient, shown on both sides at every step so far: the largest
    gradient element of the tensor below ``ZERO_GRADIENT_FRACTION`` times the largest of its layer's other
    tensors (of the whole network where the layer has no other)."""

    def __init__(self):
        self.evidence = {}   # name -> largest fraction seen (both sides), or None once a step disproved it

    @staticmethod
    def fractions(names, gradients):
        scales = {}
        sizes = [float(np.abs(np.asarray(g, np.float64)).max()) if np.size(g) else 0.0 for g in gradients]
        for name, size in zip(names, sizes):
            scales.setdefault(layer_of(name), []).append(size)
        network = max(sizes) if sizes else 0.0
        out = {}
        for name, size in zip(names, sizes):
            others = list(scales[layer_of(name)])
            others.remove(size)
            scale = max(others) if others and max(others) > 0 else network
            out[name] = size / scale if scale > 0 else 0.0
        return out

    def observe(self, names, original_gradients, port_gradients):
        a = self.fractions(names, original_gradients)
        b = self.fractions(names, port_gradients)
        for name in names:
            fraction = max(a[name], b[name])
            known = self.evidence.get(name, 0.0)
            if known is None or fraction >= ZERO_GRADIENT_FRACTION:
                self.evidence[name] = None
            else:
                self.evidence[name] = max(known, fraction)

    def shown(self, name):
        """The largest gradient fraction seen (both sides, every step) when the tensor qualifies, else None."""
        return self.evidence.get(name)


class Judge:
    """Collects the comparisons, logs one line per tensor, remembers the first failure and the largest
    difference (relative; absolute for the zero-update tensors, reported apart)."""

    def __init__(self, precision, log, learning_rate=None):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.precision = precision
        self.log = log
        self.learning_rate = learning_rate
        self.first_failure = None
        self.max_diff = 0.0
        self.max_where = ""
        self.zero_updates = ZeroUpdates()
        self.exempt = {}   # name -> (largest absolute difference, its bound, gradient evidence)
        self.checked = 0

    def fail(self, message):
        """Record a failure (the first one is the divergence reported)."""
        if self.first_failure is None:
            self.first_failure = message

    def limit(self, control_spread):
        """The largest relative difference that passes: ``TOL64`` in float64 without a control run, else
        ``CONTROL_MULTIPLE`` times the control's spread (with the precision's floor)."""
        if control_spread is None:
            return TOL64 if self.precision == "float64" else CONTROL_MULTIPLE * FLOAT32_FLOOR
        floor = FLOAT64_FLOOR if self.precision == "float64" else FLOAT32_FLOOR
        return CONTROL_MULTIPLE * max(control_spread, floor)

    def compare(self, where, group, names, originals, ports, controls=None, steps=None, trainable_names=(),
                limit=None):
        """One line per tensor; ``controls``: the original's float64 run (float32 mode); ``steps``: how many
        updates the tensors have seen (for the zero-update bound); ``trainable_names``: the names the zero-update
        exception may apply to; ``limit``: a given relative limit instead of :meth:`limit`'s."""
        given = limit
        controls = controls if controls is not None else [None] * len(names)
        worst = 0.0
        for name, a, b, c in zip(names, originals, ports, controls):
            self.checked += 1
            d = rel_diff(a, b)
            spread = rel_diff(c, a) if c is not None else None
            evidence = self.zero_updates.shown(name) if (self.precision == "float64" and name in trainable_names
                                                         and steps) else None
            if evidence is not None and self.learning_rate:
                bound = ZERO_UPDATE_FRACTION * self.learning_rate * steps
                absolute = abs_diff(a, b)
                ok = absolute <= bound
                old = self.exempt.get(name, (0.0, bound, evidence))
                self.exempt[name] = (max(old[0], absolute), bound, evidence)
                note = f"  zero-update tensor: abs diff {absolute:.2e} <= {bound:.1e}"
                if not ok:
                    self.fail(f"{where}, {group} tensor {name}: abs diff {absolute:.3e} > {bound:.1e} (a tensor "
                               f"with a zero exact gradient moved)")
                    note += "  <-- FAILS"
            else:
                limit = given if given is not None else self.limit(spread)
                ok = d <= limit
                worst = max(worst, d)
                if d > self.max_diff:
                    self.max_diff, self.max_where = d, f"{where}, {group} {name}"
                note = (f"  control {spread:.2e}" if spread is not None else "")
                if not ok:
                    note += f"  <-- exceeds {limit:.1e}"
                    self.fail(f"{where}, {group} tensor {name}: rel diff {d:.3e} > {limit:.1e}"
                               + (f" ({CONTROL_MULTIPLE:g} x the control's spread {spread:.1e})"
                                  if spread is not None and given is None else ""))
            self.log(f"  {group:<9} {name:<52} {str(tuple(np.shape(a))):<18} {d:.3e}{note}")
        self.log(f"  {group:<9} max {worst:.3e}")
        return worst

    def losses(self, where, names, originals, ports, controls=None, limit=None):
        """Scalars (losses, errors): one line for all of them."""
        given = limit
        controls = controls if controls is not None else [None] * len(names)
        cells = []
        for name, a, b, c in zip(names, originals, ports, controls):
            self.checked += 1
            d = rel_diff(np.float64(a), np.float64(b))
            spread = rel_diff(np.float64(c), np.float64(a)) if c is not None else None
            limit = given if given is not None else self.limit(spread)
            if d > self.max_diff:
                self.max_diff, self.max_where = d, f"{where}, {name}"
            flag = ""
            if d > limit:
                flag = " <-- FAILS"
                self.fail(f"{where}, {name}: original {a:.9g}, port {b:.9g} (rel diff {d:.3e} > {limit:.1e})")
            cells.append(f"{name} {a:.9g}/{b:.9g} ({d:.1e}){flag}")
        self.log(f"  losses    original/port: " + "; ".join(cells))

    def summary_lines(self):
        lines = []
        if self.exempt:
            lines.append(f"zero-update tensors (float64 gradient below {ZERO_GRADIENT_FRACTION:.0e} of its layer's "
                         "gradient scale on both sides at every step), judged on the absolute scale "
                         f"{ZERO_UPDATE_FRACTION:.0e} x lr x steps:")
            for name, (absolute, bound, evidence) in self.exempt.items():
                lines.append(f"  {name}: largest gradient fraction {evidence:.1e}; abs diff {absolute:.2e} "
                             f"(bound {bound:.1e})")
        return lines
