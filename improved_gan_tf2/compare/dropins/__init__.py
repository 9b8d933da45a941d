"""Files the comparison copies next to the original's scripts (they run in its environment) or loads there by path:
``cudnn_standins`` and ``py3_compat`` (imported by the patched scripts) and ``fed_random`` (the fed random numbers, also
imported by the port's side). Pure NumPy and Theano: nothing here imports the rest of the project."""
