"""FixedBatchSize: the batch size stated for tracing, values unchanged, a wrong batch refused."""

import keras
import numpy as np
import pytest

from nlpkit.layers import FixedBatchSize


def test_states_the_batch_size_of_a_symbolic_input_and_keeps_the_other_dimensions():
    inputs = keras.Input((None, 5))
    assert tuple(FixedBatchSize(4)(inputs).shape) == (4, None, 5)
    assert FixedBatchSize(4).compute_output_shape((None, 7)) == (4, 7)


def test_values_pass_unchanged():
    x = np.random.default_rng(0).normal(size=(3, 4, 2)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(FixedBatchSize(3)(x)), x)
    ids = np.arange(6, dtype="int32").reshape(2, 3)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(FixedBatchSize(2)(ids)), ids)


def test_a_wrong_batch_size_fails():
    with pytest.raises(Exception):
        FixedBatchSize(3)(np.zeros((2, 4), "float32"))


def test_config_round_trip_and_serialization():
    layer = FixedBatchSize(8, name="fixed")
    assert layer.get_config()["batch_size"] == 8
    copy = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(copy, FixedBatchSize) and copy.batch_size == 8 and copy.name == "fixed"
