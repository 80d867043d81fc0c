"""build_classifier and ClassifierOptions: every encoder builds, trains a step, masks padding,
saves; the options' flags build the model they describe."""

import dataclasses

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
    for flag in ("--model", "--layers", "--embedding-dim", "--max-norm", "--bidirectional",
                 "--hub-combine"):
        assert flag in help_text
    assert "(default: 3,4,5)" in help_text and len(dataclasses.fields(ClassifierOptions)) == 18


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


# The hub encoder: a TF Hub text module (strings in, one vector out) as the whole encoder.

HUB_SENTENCES = ["good movie", "bad bad movie", "unknown words only", ""]
HUB_LABELS = np.array([1, 0, 1, 0])

hub_only = pytest.mark.skipif(not layer_checks.backend_is_tensorflow(),
                              reason="Hub modules need the TensorFlow backend")


@pytest.fixture(scope="module")
def text_module(tmp_path_factory):
    """The tiny TF2 text module of the HubLayer tests: the mean of 4-wide word rows, twice that
    in training mode, with a trainable `rows` and an L2 regularization loss."""
    if not layer_checks.backend_is_tensorflow():
        pytest.skip("Hub modules need the TensorFlow backend")
    from tests.layers.test_hub_layer import save_tf2_text_module

    return save_tf2_text_module(str(tmp_path_factory.mktemp("hub") / "text"))


def hub_classifier(handle, trainable=False, **options):
    return build_classifier(None, 3, ClassifierOptions(encoder="hub", hub_encoder=handle,
                                                       hub_trainable=trainable, **options))


@hub_only
def test_a_hub_classifier_reads_raw_text_and_its_sentence_encoder_is_the_module(text_module):
    import tensorflow as tf

    from nlpkit.tasks.classification.model import sentence_encoder
    from tests.layers.test_hub_layer import expected_embeddings

    model = hub_classifier(text_module, dropout=0.0, max_norm=3.0)
    assert model.inputs[0].dtype == "string" and tuple(model.inputs[0].shape) == (None,)
    assert [layer.name for layer in model.layers] == [
        "text", "hub_encoder", "encoded_dropout", "probabilities"]
    text = tf.constant(HUB_SENTENCES)
    probabilities = keras.ops.convert_to_numpy(model(text))
    assert probabilities.shape == (4, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    encoder = sentence_encoder(model)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(encoder(text)),
                               expected_embeddings(HUB_SENTENCES), atol=1e-6)
    assert not model.get_layer("hub_encoder").trainable  # frozen unless asked


@hub_only
@pytest.mark.parametrize("trainable", [False, True])
def test_a_hub_classifier_trains_through_nlpkits_loop_frozen_or_fine_tuned(text_module, tmp_path,
                                                                           trainable):
    """`nlpkit.training.train` with its defaults (the "auto" strategy, one device here, and
    Keras' train step) trains on raw strings; a frozen module keeps its rows bit-identical."""
    import tensorflow as tf

    from nlpkit.training import TrainingConfig, train
    from tests.layers.test_hub_layer import embedding_values

    keras.utils.set_random_seed(2)
    texts = tf.data.Dataset.from_tensor_slices(
        (np.array(HUB_SENTENCES * 4, dtype=object), np.tile(HUB_LABELS, 4)))
    config = TrainingConfig(epochs=2, batch_size=4, learning_rate=0.05, verbose=0,
                            run_dir=str(tmp_path / "run"), monitor="val_accuracy",
                            monitor_mode="max")
    result = train(lambda: hub_classifier(text_module, trainable), texts, config,
                   loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                   dev_data=texts)
    assert result.steps_per_epoch == 4 and len(result.history["val_accuracy"]) == 2
    hub = result.model.get_layer("hub_encoder")
    (rows,) = [weight for weight in hub.weights if weight.name == "rows"]
    assert [weight.name for weight in hub.trainable_weights] == (["rows"] if trainable else [])
    rows = keras.ops.convert_to_numpy(rows)
    if trainable:
        assert np.abs(rows - embedding_values()).max() > 1e-3
    else:
        np.testing.assert_array_equal(rows, embedding_values())


def test_hub_options_go_together():
    with pytest.raises(ValueError, match="encoder='hub' needs the module's handle"):
        ClassifierOptions(encoder="hub")
    with pytest.raises(ValueError, match="a handle needs encoder='hub'"):
        ClassifierOptions(hub_encoder="saved_models/glove/1")
    with pytest.raises(ValueError, match="hub_trainable fine-tunes a Hub module"):
        ClassifierOptions(hub_trainable=True)


@hub_only
def test_a_sentence_hub_classifier_takes_no_word_vectors(text_module, tmp_path):
    with pytest.raises(ValueError, match="go with a per-token Hub module and hub_combine='concat'"):
        build_classifier(None, 2, ClassifierOptions(encoder="hub", hub_encoder=text_module),
                         vectors=word_vectors(tmp_path), vector_options=vector_options())


@pytest.fixture(scope="module")
def token_module_handle(tmp_path_factory):
    if not layer_checks.backend_is_tensorflow():
        pytest.skip("Hub modules need the TensorFlow backend")
    from tests.export.tiny_token_module import export_tiny_token_module

    return export_tiny_token_module(tmp_path_factory.mktemp("hub") / "tiny")


@hub_only
def test_concat_joins_each_words_embedding_and_module_mix_and_padding_changes_nothing(
        token_module_handle):
    import tensorflow as tf

    from nlpkit.text import WordTokenizer

    keras.utils.set_random_seed(3)
    tokenizer = WordTokenizer(["[PAD]", "[UNK]", "[BOS]", "[EOS]", "the", "cat", "sat"],
                              lowercase=True)
    model = build_classifier(None, 2, ClassifierOptions(
        encoder="hub", hub_encoder=token_module_handle, hub_combine="concat", embedding_dim=3,
        units=4, pooling="mean", dropout=0.0), tokenizer=tokenizer)
    texts = tf.constant(["The cat sat", "the dog", ""])
    joined = keras.Model(model.input, model.get_layer("embedding_and_hub").output)(texts)
    mixed = keras.Model(model.input, model.get_layer("hub_encoder_mix").output)(texts)
    joined, mixed = keras.ops.convert_to_numpy(joined), keras.ops.convert_to_numpy(mixed)
    assert joined.shape == (3, 3, 3 + 8)
    rows = keras.ops.convert_to_numpy(model.get_layer("embedding").embeddings)
    ids = np.array([[4, 5, 6], [4, 1, 0], [0, 0, 0]])  # lower-cased words, "dog" unknown
    np.testing.assert_allclose(joined[..., :3], rows[ids], atol=1e-6)
    np.testing.assert_allclose(joined[..., 3:], mixed, atol=1e-6)
    # The module reads the words as written ("The" is not its "the"), the embedding lower-cased.
    assert np.abs(mixed[0, 0] - mixed[1, 0]).max() > 1e-4
    alone = keras.ops.convert_to_numpy(model(tf.constant(["the dog"])))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(texts))[1], alone[0], atol=1e-5)


@hub_only
def test_concat_needs_the_tokenizer_and_replace_takes_none(token_module_handle):
    from nlpkit.text import WordTokenizer

    options = ClassifierOptions(encoder="hub", hub_encoder=token_module_handle)
    with pytest.raises(ValueError, match="hub_combine='concat' embeds the words"):
        build_classifier(None, 2, dataclasses.replace(options, hub_combine="concat"))
    with pytest.raises(ValueError, match="go with a per-token Hub module and hub_combine"):
        build_classifier(None, 2, options, tokenizer=WordTokenizer(["[PAD]", "[UNK]", "[BOS]",
                                                                    "[EOS]", "the"]))
    with pytest.raises(ValueError, match="hub_combine must be one of"):
        dataclasses.replace(options, hub_combine="sum")


@pytest.mark.parametrize("encoder, kwargs, width", [
    ("cnn", {"widths": (2, 3)}, 6), ("rnn", {"cell": "gru", "pooling": "mean_max"}, 16),
    ("bow", {"bow_mode": "count"}, 12)])
def test_the_sentence_encoder_gives_what_the_output_layer_reads(encoder, kwargs, width):
    from nlpkit.tasks.classification.model import sentence_encoder

    model = small(encoder, **kwargs)
    encoder_model = sentence_encoder(model)
    assert encoder_model.inputs[0].dtype == "int32"
    encoded = encoder_model(TOKEN_IDS)
    assert tuple(encoded.shape) == (2, width)
    # The output layer on the encoded vector (dropout is off outside training) is the model.
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.get_layer("probabilities")(encoded)),
        keras.ops.convert_to_numpy(model(TOKEN_IDS)), atol=1e-6)


def test_an_ensemble_has_no_sentence_encoder_of_its_own():
    from nlpkit.tasks.classification.model import sentence_encoder
    from nlpkit.training import average_models

    ensemble = average_models([small("cnn", name="member_0"), small("boe", name="member_1")])
    with pytest.raises(ValueError, match="an ensemble has one encoder per member"):
        sentence_encoder(ensemble)


@hub_only
@pytest.mark.parametrize("trainable", [False, True])
def test_a_per_token_module_trains_only_when_asked_and_its_mix_always(token_module_handle,
                                                                      trainable):
    import tensorflow as tf

    keras.utils.set_random_seed(4)
    model = build_classifier(None, 2, ClassifierOptions(
        encoder="hub", hub_encoder=token_module_handle, hub_trainable=trainable, units=4,
        pooling="mean", dropout=0.0))
    module, mix = model.get_layer("hub_encoder"), model.get_layer("hub_encoder_mix")
    before = [keras.ops.convert_to_numpy(w) for w in module.weights + mix.weights]
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
    model.train_on_batch(tf.constant(["the cat sat", "a bad film", "good dog"]),
                         np.array([1, 0, 1]))
    after = [keras.ops.convert_to_numpy(w) for w in module.weights + mix.weights]
    moved = [np.abs(a - b).max() > 0 for a, b in zip(after, before, strict=True)]
    assert any(moved[:len(module.weights)]) == trainable
    assert all(moved[len(module.weights):])  # the layer weights and gamma of the mix
