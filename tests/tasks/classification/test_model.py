"""build_classifier and ClassifierOptions: every encoder builds, trains a step, masks padding,
saves; the options' flags build the model they describe."""

import keras
import numpy as np
import pytest

from nlpkit.tasks.classification.model import (
    CELLS,
    EMBEDDING_DROPOUT_UNITS,
    POOLINGS,
    ClassifierOptions,
    adapt_classifier,
    build_classifier,
)
from tests import layer_checks

TOKEN_IDS = np.array([[5, 6, 7, 8, 2, 0, 0, 0], [9, 3, 4, 1, 5, 6, 7, 2]], "int32")


def build(vocab_size, num_classes, name="classifier", **options):
    return build_classifier(vocab_size, num_classes, ClassifierOptions(**options), name=name)


def small(encoder, **kwargs):
    return build(
        vocab_size=12, num_classes=3, encoder=encoder, embedding_dim=6, units=4, filters=3,
        dropout=0.0, **kwargs
    )


CONFIGURATIONS = (
    [("bow", {"bow_mode": mode}) for mode in ("multi_hot", "count", "tf_idf")]
    + [("boe", {}), ("cnn", {})]
    + [("rnn", {"cell": cell}) for cell in CELLS]
    + [("rnn", {"cell": "gru", "pooling": pooling}) for pooling in POOLINGS]
    + [("rnn", {"cell": "lstm", "bidirectional": False, "num_layers": 2, "pooling": "mean"})]
)


@pytest.mark.parametrize("encoder, kwargs", CONFIGURATIONS)
def test_probabilities_ignore_padding(encoder, kwargs):
    model = small(encoder, **kwargs)
    adapt_classifier(model, TOKEN_IDS)
    probabilities = keras.ops.convert_to_numpy(model(TOKEN_IDS))
    assert probabilities.shape == (2, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    # the first text alone, without its padding, gets the same probabilities
    alone = keras.ops.convert_to_numpy(model(TOKEN_IDS[:1, :5]))
    np.testing.assert_allclose(probabilities[0], alone[0], atol=1e-5)


@pytest.mark.parametrize("encoder, kwargs", [("cnn", {}), ("rnn", {"cell": "gru"})])
def test_a_few_steps_of_training_lower_the_loss(encoder, kwargs):
    model = small(encoder, **kwargs)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    labels = np.array([0, 2])
    first = model.evaluate(TOKEN_IDS, labels, verbose=0)
    model.fit(TOKEN_IDS, labels, epochs=10, verbose=0)
    assert model.evaluate(TOKEN_IDS, labels, verbose=0) < first


def test_rnn_classifier_saves_and_loads(tmp_path):
    model = small("rnn", cell="peephole", pooling="mean_max")
    layer_checks.assert_model_saves_and_loads(model, TOKEN_IDS, tmp_path)


def test_unknown_choices_are_clear_errors():
    with pytest.raises(ValueError, match="encoder must be one of"):
        small("transformer")
    with pytest.raises(ValueError, match="cell must be one of"):
        small("rnn", cell="mgu")
    with pytest.raises(ValueError, match="pooling must be one of"):
        small("rnn", pooling="attention")


def test_embedding_dropout_is_separate_from_the_output_dropout():
    def rates(**kwargs):
        model = build(12, 2, encoder="cnn", embedding_dim=6, filters=3, **kwargs)
        return [model.get_layer(name).rate for name in ("embedding_dropout", "encoded_dropout")]

    assert rates(dropout=0.5) == [0.5, 0.5]  # None: the embeddings get `dropout` too
    assert rates(dropout=0.5, embedding_dropout=0.1) == [0.1, 0.5]
    assert rates(dropout=0.3, embedding_dropout=0.0) == [0.0, 0.3]


@pytest.mark.parametrize("unit", sorted(EMBEDDING_DROPOUT_UNITS))
def test_embedding_dropout_drops_values_words_or_dimensions(unit):
    keras.utils.set_random_seed(5)
    model = build(
        12, 2, encoder="cnn", embedding_dim=64, filters=3, embedding_dropout=0.5,
        embedding_dropout_unit=unit,
    )
    dropped = keras.Model(model.input, model.get_layer("embedding_dropout").output)
    token_ids = np.tile(np.arange(1, 12, dtype="int32"), (4, 6))  # no padding: (4, 66)
    # shape: (batch, time, dim)
    kept = keras.ops.convert_to_numpy(dropped(token_ids, training=True)) != 0
    assert 0.3 < kept.mean() < 0.7
    whole_words = np.all(kept == kept[:, :, :1])  # a word vector is kept or dropped whole
    whole_dimensions = np.all(kept == kept[:, :1, :])
    assert (whole_words, whole_dimensions) == {
        "value": (False, False), "word": (True, False), "dimension": (False, True)
    }[unit]


def test_unknown_embedding_dropout_unit_is_a_clear_error():
    with pytest.raises(ValueError, match="embedding_dropout_unit must be one of"):
        small("cnn", embedding_dropout_unit="sentence")


@pytest.mark.parametrize("encoder", ["cnn", "rnn"])
def test_max_norm_bounds_each_class_weight_vector(encoder):
    def class_norms_after_training(max_norm):
        keras.utils.set_random_seed(3)
        model = small(encoder, cell="gru", max_norm=max_norm)
        # a large learning rate drives the output weights far past the bound without it
        model.compile(optimizer=keras.optimizers.SGD(5.0), loss="sparse_categorical_crossentropy")
        model.fit(TOKEN_IDS, np.array([0, 2]), epochs=5, verbose=0)
        kernel = keras.ops.convert_to_numpy(model.get_layer("probabilities").kernel)
        return np.linalg.norm(kernel, axis=0)  # one norm per class

    assert class_norms_after_training(None).max() > 0.5
    np.testing.assert_array_less(class_norms_after_training(0.5), 0.5 + 1e-5)


def parsed_flags(*argv):
    import argparse

    from nlpkit.cli import add_ensemble_flags, add_training_flags
    from nlpkit.tasks.classification.flags import add_classifier_flags

    parser = argparse.ArgumentParser(prog="recipe")
    add_training_flags(parser, name="test")
    add_classifier_flags(parser)
    add_ensemble_flags(parser)
    return parser, parser.parse_args(list(argv))


def test_flags_describe_the_model_that_the_options_build():
    from nlpkit.cli import options_from_args

    _, args = parsed_flags("--model", "cnn", "--widths", "2,3", "--filters", "5",
                           "--embedding-dim", "6", "--max-norm", "3", "--no-bidirectional")
    options = options_from_args(ClassifierOptions, args)
    assert options == ClassifierOptions(encoder="cnn", widths=(2, 3), filters=5,
                                        embedding_dim=6, max_norm=3.0, bidirectional=False)
    model = build_classifier(12, 3, options, name="m")
    conv = model.get_layer("conv")
    assert model.name == "m" and conv.widths == (2, 3) and conv.filters == 5
    assert model.get_layer("embedding").output_dim == 6
    assert model.get_layer("probabilities").kernel_constraint.max_value == 3
    assert model(TOKEN_IDS).shape == (2, 3)


def test_every_option_is_a_flag_with_its_default():
    import dataclasses

    from nlpkit.cli import options_from_args

    _, args = parsed_flags()
    assert options_from_args(ClassifierOptions, args) == ClassifierOptions()
    parser, _ = parsed_flags()
    help_text = " ".join(parser.format_help().split())
    for flag in ("--model", "--layers", "--embedding-dim", "--max-norm", "--bidirectional"):
        assert flag in help_text
    assert "(default: 3,4,5)" in help_text and len(dataclasses.fields(ClassifierOptions)) == 15


def test_bad_option_values_are_usage_errors(capsys):
    parser, _ = parsed_flags()
    for argv, expected in ((["--dropout", "1.5"], "a number in [0, 1)"),
                           (["--widths", "3,x"], "--widths"),
                           (["--max-norm=-1"], "expected a number > 0")):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args(argv)
        assert exit_info.value.code == 2
        assert expected in capsys.readouterr().err


def test_member_overrides_one_dict_per_model():
    from nlpkit.cli import member_overrides

    parser, args = parsed_flags("--ensemble", "2", "--member", "cell=gru,epochs=4",
                                "--member", "widths=3,4,max-norm=2")
    assert member_overrides(parser, args, ClassifierOptions) == [
        {}, {}, {"cell": "gru", "epochs": 4}, {"widths": (3, 4), "max_norm": 2.0}]
    parser, args = parsed_flags("--member", "bidirectional=false")
    with pytest.raises(SystemExit):  # an on/off switch has no FLAG=VALUE form
        member_overrides(parser, args, ClassifierOptions)


def test_ensemble_members_get_their_options_run_dirs_and_seeds():
    from nlpkit.cli import ensemble_members, member_overrides

    parser, args = parsed_flags("--seed", "7", "--run-dir", "r", "--ensemble", "2",
                                "--member", "model=cnn,epochs=4")
    args.member_overrides = member_overrides(parser, args, ClassifierOptions)
    members = ensemble_members(args, ClassifierOptions, name="classifier",
                               monitor="val_accuracy", monitor_mode="max")
    assert [m.name for m in members] == ["member_0", "member_1", "member_2"]
    assert [m.options.encoder for m in members] == ["rnn", "rnn", "cnn"]
    assert [m.config.epochs for m in members] == [10, 10, 4]
    assert [m.config.seed for m in members] == [7, 8, 9]
    assert [m.config.run_dir for m in members] == [f"r/member_{i}" for i in range(3)]
    assert members[2].changes == {"model": "cnn", "epochs": 4}
    single = ensemble_members(parsed_flags("--run-dir", "r")[1], ClassifierOptions,
                              name="classifier")
    assert [(m.name, m.config.run_dir, m.config.seed) for m in single] == [("classifier", "r", None)]


# Pretrained word vectors: the embed stage of every encoder with an embedding starts from them.

VECTOR_TOKENS = ["good", "fun", "dull", "film", "plot", "awful", "great", "zebra"]


def vectors_vocabulary():
    from nlpkit.text import RESERVED_TOKENS

    return list(RESERVED_TOKENS) + VECTOR_TOKENS


def word_vectors(tmp_path, dimension=5, frozen_from=None):
    """An `EmbeddingMatrix` for a 12-id vocabulary from a vectors file the test writes (all
    words but the last have a vector)."""
    from nlpkit.text import embedding_matrix

    rng = np.random.default_rng(0)
    path = tmp_path / "vectors.txt"
    path.write_text("".join(f"{word} " + " ".join(f"{v:.5f}" for v in rng.normal(size=dimension))
                            + "\n" for word in VECTOR_TOKENS[:-1]), encoding="utf-8")
    return embedding_matrix(vectors_vocabulary(), path, seed=0, frozen_from=frozen_from)


def vector_options(**kwargs):
    from nlpkit.cli import WordVectorOptions

    return WordVectorOptions(path="vectors.txt", **kwargs)


@pytest.mark.parametrize("encoder, kwargs", [("boe", {}), ("cnn", {}),
                                             ("rnn", {"cell": "gru", "pooling": "mean"})])
def test_pretrained_vectors_start_every_embedding_and_padding_is_ignored(tmp_path, encoder,
                                                                         kwargs):
    vectors = word_vectors(tmp_path)
    model = build_classifier(12, 3, ClassifierOptions(encoder=encoder, units=4, filters=3,
                                                      dropout=0.0, **kwargs),
                             vectors=vectors, vector_options=vector_options())
    layer = model.get_layer("embedding")
    assert layer.output_dim == 5
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.embeddings), vectors.matrix)
    probabilities = keras.ops.convert_to_numpy(model(TOKEN_IDS))
    alone = keras.ops.convert_to_numpy(model(TOKEN_IDS[:1, :5]))
    np.testing.assert_allclose(probabilities[0], alone[0], atol=1e-5)


@pytest.mark.parametrize("usage, width, trainable, frozen", [
    ({}, 5, ["tuned_vectors"], []),
    ({"trainable": False}, 5, [], ["frozen_vectors"]),
    ({"channels": 2}, 10, ["tuned_vectors"], ["static_vectors"]),
    ({"trained_dim": 7}, 12, ["tuned_vectors", "trained_embeddings"], []),
])
def test_vector_options_choose_what_trains(tmp_path, usage, width, trainable, frozen):
    model = build_classifier(12, 2, ClassifierOptions(encoder="cnn", filters=3),
                             vectors=word_vectors(tmp_path), vector_options=vector_options(**usage))
    layer = model.get_layer("embedding")
    assert layer.output_dim == width
    assert [weight.name for weight in layer.trainable_weights] == trainable
    assert [weight.name for weight in layer.non_trainable_weights] == frozen


def test_rows_added_by_vocabulary_expansion_stay_frozen_when_fine_tuning(tmp_path):
    model = build_classifier(12, 2, ClassifierOptions(encoder="cnn", filters=3),
                             vectors=word_vectors(tmp_path, frozen_from=10),
                             vector_options=vector_options())
    layer = model.get_layer("embedding")
    assert [tuple(w.shape) for w in layer.trainable_weights] == [(10, 5)]
    assert [tuple(w.shape) for w in layer.non_trainable_weights] == [(2, 5)]


def test_vectors_need_an_embedding_of_their_width(tmp_path):
    vectors = word_vectors(tmp_path)
    with pytest.raises(ValueError, match="bow encoder has no word embedding"):
        build_classifier(12, 2, ClassifierOptions(encoder="bow"), vectors=vectors)
    with pytest.raises(ValueError, match="embedding_dim 6 differs from the width of the vectors"):
        build_classifier(12, 2, ClassifierOptions(encoder="cnn", embedding_dim=6),
                         vectors=vectors)
    with pytest.raises(ValueError, match="12 rows for 13 ids"):
        build_classifier(13, 2, ClassifierOptions(encoder="cnn"), vectors=vectors)
    assert build_classifier(12, 2, ClassifierOptions(encoder="cnn", embedding_dim=5),
                            vectors=vectors).get_layer("embedding").output_dim == 5


@pytest.mark.skipif(not layer_checks.backend_is_tensorflow(), reason="exports need TensorFlow")
def test_frozen_vectors_stay_bit_identical_through_fit_keras_file_and_export(tmp_path):
    """The whole life of a model with frozen vectors: fit with Adam and weight decay, `.keras`
    save and load, and the sentiment recipe's export (`export_classifier`), whose SavedModel
    holds the vectors as variables and serves the loaded model's probabilities."""
    import tensorflow as tf

    from nlpkit.tasks.classification.export import export_classifier
    from nlpkit.text import WordTokenizer

    vectors = word_vectors(tmp_path, frozen_from=10)
    tokenizer = WordTokenizer(vocabulary=vectors_vocabulary(), lowercase=True)
    keras.utils.set_random_seed(4)
    model = build_classifier(12, 2, ClassifierOptions(encoder="cnn", filters=3, widths=(2,)),
                             vectors=vectors, vector_options=vector_options(channels=2))
    model.compile(optimizer=keras.optimizers.Adam(0.05, weight_decay=0.5),
                  loss="sparse_categorical_crossentropy")
    texts = ["good fun film", "dull awful plot", "great film", "awful dull"]
    ids = tokenizer(tf.constant(texts))
    model.fit(ids, np.array([1, 0, 1, 0]), epochs=4, verbose=0)
    table = keras.ops.convert_to_numpy(model.get_layer("embedding").embeddings)
    np.testing.assert_array_equal(table[:, 5:], vectors.matrix)  # the static channel
    np.testing.assert_array_equal(table[10:, :5], vectors.matrix[10:])  # the added words
    assert not np.array_equal(table[4:10, :5], vectors.matrix[4:10])  # fine-tuned rows moved

    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded.get_layer("embedding").embeddings), table)

    version_dir = export_classifier(tokenizer, loaded, ["negative", "positive"],
                                    str(tmp_path / "export"))
    served = tf.saved_model.load(version_dir)
    exported = {variable.name.split("/")[-1].split(":")[0]: variable.numpy()
                for variable in served.variables}
    np.testing.assert_array_equal(exported["static_vectors"], vectors.matrix[:10])
    np.testing.assert_array_equal(exported["frozen_vectors"], vectors.matrix[10:])
    np.testing.assert_array_equal(exported["tuned_vectors"], table[:10, :5])
    probabilities = served.signatures["serving_default"](text=tf.constant(texts))["probabilities"]
    np.testing.assert_allclose(probabilities.numpy(), keras.ops.convert_to_numpy(loaded(ids)),
                               atol=1e-6)
