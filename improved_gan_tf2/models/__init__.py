"""``keras.Model`` subclasses whose ``train_step`` is one iteration of an original training loop."""
