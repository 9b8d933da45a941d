"""Side-by-side comparison of this port with the original release (``openai/improved-gan``, Theano + Lasagne).

Run ``python -m improved_gan_tf2.compare --help``; docs/compare.md says what it guarantees. Modules:
:mod:`.patcher` (the patched copy of the original's scripts), :mod:`.env` (the original's virtual environment),
:mod:`.harness` (the original's side, run with the original's interpreter) and :mod:`.instrumentation` (its feed
slots and width scaling), :mod:`.step`, :mod:`.loop` and :mod:`.run` (the drivers), :mod:`.judge` (the verdicts),
:mod:`.feeds` (the random numbers fed to the port), :mod:`.cudnn_numpy` (cuDNN convolution semantics in NumPy);
the original's data formats are written by :mod:`improved_gan_tf2.data.writers`. Nothing of the original or of
Lasagne is part of this package: it works on a checkout the user gives.
"""
