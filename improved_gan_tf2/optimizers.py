"""The original's optimizer and parameter averages.

- :class:`OriginalAdam` ports ``nn.adam_updates`` (``mnist_svhn_cifar10/nn.py``).
- :class:`ParameterAverage` ports the scripts' ``disc_param_avg`` (test error is measured with it).
- :class:`HistoricalAverage` keeps the running mean that historical averaging (paper Sec. 3.3) needs.
- :func:`tf1_adam` is the ImageNet code's ``tf.train.AdamOptimizer`` (TensorFlow 0.x).
"""
import contextlib

import keras
import tensorflow as tf


def _tf_variable(variable):
    """The ``tf.Variable`` behind a Keras variable (or the variable itself)."""
    return variable.value if isinstance(variable, keras.Variable) else variable


def _fusable(*variables):
    """Whether the element-wise updates may run as XLA computations: outside
    ``tf.distribute`` strategies (whose variables stay on the per-op path) and on plain ``tf.Variable`` s."""
    return not tf.distribute.has_strategy() and all(isinstance(v, tf.Variable) for v in variables)


def _original_adam_arithmetic(variable, momentum, velocity, gradient, learning_rate, t, beta_1, beta_2, epsilon):
    """``nn.adam_updates`` for one parameter."""
    m = beta_1 * momentum + (1.0 - beta_1) * gradient
    v = beta_2 * velocity + (1.0 - beta_2) * tf.square(gradient)
    momentum.assign(m)
    velocity.assign(v)
    m_hat = m / (1.0 - tf.pow(beta_1, t))
    v_hat = v / (1.0 - tf.pow(beta_2, t))
    variable.assign_sub(learning_rate * m_hat / tf.sqrt(v_hat + epsilon))


@tf.function(jit_compile=True, autograph=False)
def _original_adam_update(variable, momentum, velocity, gradient, learning_rate, t, beta_1, beta_2, epsilon):
    """:func:`_original_adam_arithmetic` compiled by XLA into a single pass over the parameter's elements."""
    _original_adam_arithmetic(variable, momentum, velocity, gradient, learning_rate, t, beta_1, beta_2, epsilon)


@tf.function(jit_compile=True, autograph=False)
def _original_adam_updates(variables, momentums, velocities, gradients, learning_rate, t, beta_1, beta_2, epsilon):
    """:func:`_original_adam_arithmetic` for all of a player's parameters in one XLA computation (one call
    instead of one per parameter: on a CPU the calls and Keras's per-variable ops cost as much as the passes)."""
    for variable, momentum, velocity, gradient in zip(variables, momentums, velocities, gradients):
        _original_adam_arithmetic(variable, momentum, velocity, gradient, learning_rate, t, beta_1, beta_2, epsilon)


@tf.function(jit_compile=True, autograph=False)
def _moving_average_updates(averages, values, rate):
    """``a += rate * (p - a)`` for every pair, one XLA computation."""
    for average, value in zip(averages, values):
        average.assign_add(rate * (value - average))


@keras.saving.register_keras_serializable(package="improved_gan_tf2")
class OriginalAdam(keras.optimizers.Optimizer):
    """Adam exactly as ``nn.adam_updates`` writes it.

    With ``t`` counting from 1: ``m = b1 m + (1 - b1) g``; ``v = b2 v + (1 - b2) g^2``;
    ``p -= lr * (m / (1 - b1^t)) / sqrt(v / (1 - b2^t) + epsilon)``. The epsilon (1e-8) is inside the square
    root, where ``keras.optimizers.Adam`` adds it outside, which matters while ``v`` is tiny. ``beta_1``
    defaults to the 0.5 that every experiment of the paper uses. A Keras optimizer, so it works with
    ``compile``/``fit`` and with ``tf.distribute`` strategies (in a custom distributed loop, call
    ``optimizer.build(variables)`` inside the strategy's scope first, as for any Keras 3 optimizer).

    With ``fused=True`` (the default) the update of all parameters is one XLA computation, a single pass over
    each parameter's elements instead of a dozen TensorFlow ops per parameter; on a CPU that more than halves the
    optimizer's time in the MNIST step (``benchmarks/mnist_step.py``, ``docs/speed.md``). The arithmetic is the
    same, bit for bit; under a ``tf.distribute`` strategy the update runs as separate ops.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.5, beta_2=0.999, epsilon=1e-8, fused=True,
                 name="original_adam", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.fused = bool(fused)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(var_list, ["momentum", "velocity"])

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = tf.cast(learning_rate, dtype)
        gradient = tf.cast(tf.convert_to_tensor(gradient), dtype)  # dense, also for IndexedSlices (embeddings)
        t = tf.cast(self.iterations + 1, dtype)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        tf_variables = [_tf_variable(x) for x in (variable, m, v)]
        if self.fused and _fusable(*tf_variables):
            constants = [tf.constant(c, dtype) for c in (self.beta_1, self.beta_2, self.epsilon)]
            _original_adam_update(*tf_variables, gradient, lr, t, *constants)
            return
        self.assign(m, self.beta_1 * m + (1.0 - self.beta_1) * gradient)
        self.assign(v, self.beta_2 * v + (1.0 - self.beta_2) * tf.square(gradient))
        m_hat = m / (1.0 - tf.pow(tf.constant(self.beta_1, dtype), t))
        v_hat = v / (1.0 - tf.pow(tf.constant(self.beta_2, dtype), t))
        self.assign_sub(variable, lr * m_hat / tf.sqrt(v_hat + self.epsilon))

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        """Inside a ``tf.function`` (``fit``, a compiled train step), all parameters in one XLA computation when
        they are fusable and of one float dtype: the same arithmetic as :meth:`update_step`, which Keras's
        TensorFlow backend calls once per variable (and which eager calls keep, one XLA call per parameter)."""
        variables = [_tf_variable(v) for v in trainable_variables]
        dtypes = {v.dtype for v in variables}
        if tf.executing_eagerly() or not (self.fused and variables and len(dtypes) == 1
                                          and dtypes <= {tf.float32, tf.float64}):
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        indices = [self._get_variable_index(v) for v in trainable_variables]
        momentums = [_tf_variable(self._momentums[i]) for i in indices]
        velocities = [_tf_variable(self._velocities[i]) for i in indices]
        if not _fusable(*variables, *momentums, *velocities):
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        dtype = variables[0].dtype
        gradients = [tf.cast(tf.convert_to_tensor(g), dtype) for g in grads]
        constants = [tf.constant(c, dtype) for c in (self.beta_1, self.beta_2, self.epsilon)]
        _original_adam_updates(variables, momentums, velocities, gradients, tf.cast(learning_rate, dtype),
                               tf.cast(self.iterations + 1, dtype), *constants)

    def get_config(self):
        config = super().get_config()
        config.update(beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon, fused=self.fused)
        return config


def tf1_adam(learning_rate, beta_1=0.5, name=None):
    """``tf.train.AdamOptimizer(learning_rate, beta1=beta_1)`` of TensorFlow 0.x (``imagenet/build_model.py``).

    ``keras.optimizers.Adam`` has TF1's update rule, ``p -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) +
    epsilon)`` with the epsilon outside the root; only its default epsilon differs (1e-7), so it is set to
    TF1's 1e-8 here. (The Theano scripts' Adam is :class:`OriginalAdam`, with the epsilon inside the root.)
    """
    return keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=0.999, epsilon=1e-8, name=name)


class ParameterAverage(tf.Module):
    """Exponential moving average of parameters that starts at zero: ``a += rate * (p - a)``.

    The original updates it after every discriminator step with ``rate = 1e-4`` and measures test error with
    the averages in place of the parameters (``givens=disc_avg_givens``). Starting at zero (not at the first
    parameters, as ``keras.optimizers.Optimizer(use_ema=True)`` does) is part of what the original computes:
    early averages are shrunk towards zero. :meth:`averaged` swaps the averages in and back out;
    :meth:`values` gives them for ``Layer.stateless_call``.
    """

    def __init__(self, variables, rate=1e-4, name="parameter_average"):
        super().__init__(name=name)
        self.rate = float(rate)
        self._variables = list(variables)
        with self.name_scope:
            self.averages = [
                tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False, name=_short_name(v) + "_average")
                for v in self._variables
            ]

    def update(self):
        """One averaging step, ``a += rate * (p - a)`` for every parameter (one XLA computation for all, outside
        ``tf.distribute`` strategies)."""
        dtypes = {a.dtype for a in self.averages}
        if self.averages and len(dtypes) == 1 and _fusable(*self.averages):
            _moving_average_updates(self.averages, [tf.convert_to_tensor(v) for v in self._variables],
                                    tf.constant(self.rate, self.averages[0].dtype))
            return
        for variable, average in zip(self._variables, self.averages):
            average.assign_add(self.rate * (tf.convert_to_tensor(variable) - average))

    def values(self):
        """The averaged values, in the order of the variables given to the constructor."""
        return [tf.convert_to_tensor(a) for a in self.averages]

    @contextlib.contextmanager
    def averaged(self):
        """Within the block the variables hold their averages; their own values come back afterwards."""
        saved = [tf.identity(v) for v in self._variables]
        for variable, average in zip(self._variables, self.averages):
            variable.assign(average)
        try:
            yield
        finally:
            for variable, value in zip(self._variables, saved):
                variable.assign(value)


class HistoricalAverage(tf.Module):
    """Running mean of parameters over all past steps, ``(1/t) sum_s theta[s]`` (paper Sec. 3.3).

    Feed :attr:`averages` to :func:`improved_gan_tf2.losses.historical_averaging_penalty`; call
    :meth:`update` once per step after the parameters changed.
    """

    def __init__(self, variables, name="historical_average"):
        super().__init__(name=name)
        self._variables = list(variables)
        with self.name_scope:
            self.count = tf.Variable(0.0, trainable=False, name="count")
            self.averages = [
                tf.Variable(tf.convert_to_tensor(v), trainable=False, name=_short_name(v) + "_history")
                for v in self._variables
            ]

    def update(self):
        self.count.assign_add(1.0)
        for variable, average in zip(self._variables, self.averages):
            average.assign_add((tf.convert_to_tensor(variable) - average) / tf.cast(self.count, average.dtype))


def _short_name(variable):
    return variable.name.split(":")[0].replace("/", "_")
