r"""Sentiment classification: train, evaluate, export, predict.

    python recipes/sentiment.py                       # train on the built-in sample and export
    python recipes/sentiment.py train --data ../shared/datasets/sentiment/sst2/train.tsv \
        --dev-data ../shared/datasets/sentiment/sst2/dev.tsv --model rnn --cell lstm
    python recipes/sentiment.py train --data ../shared/datasets/sentiment/sst2/train.tsv \
        --dev-data ../shared/datasets/sentiment/sst2/dev.tsv --model rnn --pooling mean_max \
        --member model=cnn,embedding-dropout=0,max-norm=3     # a BiLSTM + CNN ensemble
    python recipes/sentiment.py train --data ../shared/datasets/sentiment/sst2/train.tsv \
        --dev-data ../shared/datasets/sentiment/sst2/dev.tsv --model cnn \
        --embeddings ../shared/datasets/embeddings/glove.6B.50d/vectors.txt.gz  # GloVe vectors
    python -m nlpkit.export.word_vectors_module --split whitespace \
        ../shared/datasets/embeddings/glove.6B.50d/vectors.txt.gz saved_models/glove-6b-50d
    python recipes/sentiment.py --data ../shared/datasets/sentiment/mr --folds 10 --fold 0 \
        --hub-encoder saved_models/glove-6b-50d/1   # a TF Hub module as the encoder, on raw text
    python recipes/sentiment.py export-encoder --export-dir saved_models/sentiment-encoder
        # the trained model's encoder as a Hub module: --hub-encoder saved_models/...-encoder/1
    python recipes/sentiment.py evaluate --data ../shared/datasets/sentiment/sst2/dev.tsv
    python recipes/sentiment.py predict "a gripping , funny film" "a dull mess"
    echo "what a waste of time" | python recipes/sentiment.py predict
    python recipes/sentiment.py export                 # export the last trained model again

Data (`--data`): a TSV/CSV with `sentence` and `label` columns (GLUE SST-2), a folder with
`*.pos`/`*.neg` line files (Movie Review), or a folder of class folders (IMDB `train/`). Without
`--dev-data`, a seeded `--dev-fraction` of `--data` is held out, or with `--folds N --fold K` fold K
of N seeded folds (cross-validation: one run per fold). The export in
`saved_models/sentiment/<version>/` takes raw text (`text`) and answers `probabilities`, `label`
and `score`; `saved_models/README.md` shows how to serve it.

`--hub-encoder HANDLE` makes a TF Hub text-embedding module the encoder (text -> module ->
dropout -> classifier; `--hub-trainable true` fine-tunes it): the model reads the raw text, so no
tokenizer is fitted and the tokenizer, vocabulary, word-vector and encoder flags are refused.
A per-token module (ELMo's interface, e.g. `recipes/pretrain.py`'s) gives a vector per word: a
learned mix of its layers feeds the recurrent encoder in place of the word embeddings, or with
`--hub-combine concat` next to the embeddings (`--embeddings` too) of the words the word
tokenizer splits inside the model. `export-encoder` writes the part of the model in `--run-dir`
before its output layer (tokenizer, embedding, encoder, pooling) as a reusable Hub module
`<export-dir>/<version>/` (default `saved_models/sentiment-encoder`), which `--hub-encoder` reads
back.
"""

import argparse
import os
import sys

import keras
import tensorflow as tf

import nlpkit.layers  # noqa: F401  registers the layers and tokenizers that loading needs
import nlpkit.text  # noqa: F401
from nlpkit import cli
from nlpkit.export import existing_versions, export_text_encoder, load_latest
from nlpkit.tasks import classification
from nlpkit.training import (
    chief_write_dir,
    train_ensemble,
)

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.join(HERE, "data", "sentiment_sample.tsv")
# Where export-encoder writes when --export-dir is left at the classifier's default: never among
# the classifier's versions, which predict and evaluate read.
ENCODER_EXPORT_DIR = os.path.join("saved_models", "sentiment-encoder")


def build_parser():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "command", nargs="?", default="train",
        choices=["train", "evaluate", "predict", "export", "export-encoder"],
        help="train (then evaluate on the dev set and export), evaluate the latest export on "
        "--data, predict with the latest export, export the last trained model, or "
        "export-encoder: write the last trained model's sentence encoder (everything before "
        "its output layer) as a TF Hub module in --export-dir (default for this command: "
        f"{ENCODER_EXPORT_DIR}), for --hub-encoder DIR/<version> "
        # literal default: parse_intermixed_args hides positional defaults while it parses
        "(default: train)",
    )
    parser.add_argument("texts", nargs="*", help="predict: texts to classify (default: stdin)")
    cli.add_training_flags(parser, name="sentiment", epochs=5, batch_size=32, patience=2)
    classification.add_data_flags(parser)
    classification.add_classifier_flags(parser)
    cli.add_word_vector_flags(parser)
    cli.add_ensemble_flags(parser)
    return parser


def parse_args(argv):
    parser = build_parser()
    args = parser.parse_intermixed_args(argv)
    classification.check_data_flags(parser, args)
    args.member_overrides = cli.member_overrides(parser, args, classification.ClassifierOptions)
    classification.check_hub_encoder_flags(parser, args)
    classification.check_word_vector_flags(parser, args)
    if args.command == "export-encoder" and args.export_dir == parser.get_default("export_dir"):
        args.export_dir = ENCODER_EXPORT_DIR
    return parser, args


def main(argv=None):
    parser, args = parse_args(argv)
    commands = {"train": train, "evaluate": evaluate, "predict": predict, "export": export,
                "export-encoder": export_encoder}
    return cli.run_command(parser, args, commands)


def train(args, strategy):
    # 1. Data: read, split, learn the vocabulary from the training part only.
    label_names = args.label_names.split(",")
    train_texts, dev_texts = classification.train_dev_split(
        classification.read_labelled_data(args.data or SAMPLE, label_names),
        classification.read_labelled_data(args.dev_data, label_names) if args.dev_data else None,
        folds=args.folds, fold=args.fold, dev_fraction=args.dev_fraction, seed=args.split_seed)
    # A Hub encoder (--hub-encoder) reads the raw text itself: the model starts at text, and
    # only the words a per-token module's mix joins (--hub-combine concat) need a tokenizer.
    members = cli.ensemble_members(args, classification.ClassifierOptions, name="classifier",
                                   monitor="val_accuracy", monitor_mode="max")
    tokenizer = vectors = None
    vector_options = cli.WordVectorOptions()
    if args.model != "hub" or any(member.options.hub_combine == "concat" for member in members):
        tokenizer = classification.fit_tokenizer(
            args.tokenizer, train_texts.texts, args.vocab_size, args.max_length)
        # Pretrained word vectors (--embeddings): the file's most frequent words may join the
        # vocabulary (--vocabulary-from-embeddings), then each vocabulary word gets its vector.
        vector_options = cli.WordVectorOptions.from_args(args)
        vectors = classification.load_word_vectors(vector_options, tokenizer, train_texts.texts,
                                                   seed=args.seed or 0)
    words = f"{tokenizer.vocabulary_size} {args.tokenizer} ids, " if tokenizer else ""
    if args.model == "hub":
        print(f"{len(train_texts)} training and {len(dev_texts)} dev texts, raw text into the "
              f"Hub module {args.hub_encoder}, {words}labels {label_names}")
        train_examples = classification.text_examples(train_texts)
        dev_examples = classification.text_examples(dev_texts)
        model_tokenizer, tokenizer = tokenizer, None  # inside the model, not in front of it
    else:
        print(f"{len(train_texts)} training and {len(dev_texts)} dev texts, {words}labels "
              f"{label_names}")
        # Tokenized once (cached datasets), then read by every ensemble member.
        train_examples = classification.tokenized_examples(train_texts, tokenizer)
        dev_examples = classification.tokenized_examples(dev_texts, tokenizer)
    if vectors:
        print(vectors.describe())
    dev_inputs = classification.model_inputs(dev_texts, tokenizer)

    # 2. Model: text -> token ids -> embedding -> encoder -> pooling -> classifier. The tokenizer
    # joins the model in front at export time, so the Keras model starts at token ids. A Hub
    # module does all but the classifier, on the raw text.
    def build_model(options, name):
        if options.encoder == "hub":
            concat = options.hub_combine == "concat"
            return classification.build_classifier(
                None, len(label_names), options, name, vectors=vectors if concat else None,
                vector_options=vector_options, tokenizer=model_tokenizer if concat else None)
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        embedded = classification.embed(token_ids, tokenizer.vocabulary_size, options,
                                        vectors, vector_options)
        states = classification.encode(embedded, options)
        pooled = classification.pool(states, options)
        probabilities = classification.classify(pooled, len(label_names), options)
        model = keras.Model(token_ids, probabilities, name=name)
        if options.encoder == "bow":  # TF-IDF weights come from the training texts
            classification.adapt_classifier(
                model, classification.padded_token_ids(train_texts, tokenizer))
        return model

    def dev_accuracy(model):
        return {"dev_accuracy": classification.classification_report(
            dev_texts.labels, model.predict(dev_inputs, batch_size=256, verbose=0),
            label_names)["accuracy"]}

    # 3. Train, with checkpoints, resumable backups, TensorBoard logs and early stopping; with
    # --ensemble/--member, several models one after another, averaged.
    trained = train_ensemble(
        members, build_model, train_examples, loss="sparse_categorical_crossentropy",
        metrics=["accuracy"], dev_data=dev_examples, strategy=strategy, score=dev_accuracy,
        output_name="probabilities")
    model = trained.model

    # 4. Evaluate on the dev set and keep the scores next to the checkpoints.
    report = classification.classification_report(
        dev_texts.labels, model.predict(dev_inputs, batch_size=256, verbose=0), label_names)
    print(classification.format_report(report))
    config_record = cli.run_config(args, label_names=label_names, dev_metrics=report,
                                   models=[member.options for member in members],
                                   word_vectors=vectors.summary() if vectors else None,
                                   hub_encoder=hub_encoder_record(args))
    # Under multi-worker training every worker gets here; only the chief writes the run folder.
    with chief_write_dir(args.run_dir) as run_dir:
        cli.save_run_config(os.path.join(run_dir, "metrics.json"), {**report, **trained.summary})
        model.save(os.path.join(run_dir, "model.keras"))
        # null for a model that reads text itself, so no earlier run's tokenizer stays behind.
        cli.save_run_config(os.path.join(run_dir, "tokenizer.json"),
                            tokenizer and keras.saving.serialize_keras_object(tokenizer))
        cli.save_run_config(os.path.join(run_dir, "run_config.json"), config_record)

    # 5. Export: raw text in, probabilities / label / score out (export_model is chief-aware).
    return export_version(args, tokenizer, model, label_names, config_record)


def hub_encoder_record(args):
    """The Hub module of a `--hub-encoder` run, for its run config (None for other runs)."""
    if args.model != "hub":
        return None
    return {"handle": args.hub_encoder, "trainable": args.hub_trainable,
            "combine": args.hub_combine}


def export_version(args, tokenizer, model, label_names, config_record):
    version_dir = classification.export_classifier(tokenizer, model, label_names, args.export_dir,
                                                   run_config=config_record)
    print(f"exported {version_dir}")
    return 0


def load_trained(run_dir):
    """The model, tokenizer (None for a model on raw text) and run config that training left in
    `run_dir`."""
    path = os.path.join(run_dir, "model.keras")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file; train a model with this --run-dir first")
    model = keras.models.load_model(path)
    tokenizer_config = cli.read_run_file(run_dir, "tokenizer.json")
    tokenizer = tokenizer_config and keras.saving.deserialize_keras_object(tokenizer_config)
    return model, tokenizer, cli.read_run_file(run_dir, "run_config.json")


def export(args, strategy):
    model, tokenizer, config_record = load_trained(args.run_dir)
    return export_version(args, tokenizer, model, config_record["label_names"], config_record)


def export_encoder(args, strategy):
    """Writes the trained model's sentence encoder (its tokenizer, then its layers from token ids
    to the vector its output layer reads) as a reusable TF Hub module."""
    model, tokenizer, config_record = load_trained(args.run_dir)
    try:
        encoder = classification.sentence_encoder(model)
    except ValueError as error:
        print(f"sentiment.py: error: export-encoder: {error}", file=sys.stderr)
        return 2
    classifiers = [version for version in existing_versions(args.export_dir)
                   if os.path.exists(os.path.join(args.export_dir, str(version), "assets",
                                                  classification.LABELS_FILENAME))]
    if classifiers:
        print(f"sentiment.py: error: export-encoder: {args.export_dir} holds classifier exports "
              f"(versions {classifiers}); give the encoder its own --export-dir",
              file=sys.stderr)
        return 2
    handle = export_text_encoder(
        tokenizer, encoder, args.export_dir,
        run_config={**config_record, "encoder_of": os.path.abspath(args.run_dir)})
    print(f"exported the sentence encoder of {args.run_dir} ({encoder.output.shape[-1]} "
          f"dimensions) as the Hub module {handle}")
    return 0


def predict(args, strategy):
    # Bytes, not str: the export replaces invalid UTF-8 itself, so pass stdin through untouched.
    texts = [text.encode() for text in args.texts] or [
        line.rstrip(b"\r\n") for line in sys.stdin.buffer]
    outputs = load_latest(args.export_dir).signatures["serving_default"](text=tf.constant(texts))
    for text, label, score in zip(texts, outputs["label"].numpy(), outputs["score"].numpy()):
        print(f"{label.decode()}\t{score:.3f}\t{text.decode(errors='replace')}")
    return 0


def evaluate(args, strategy):
    data = classification.read_labelled_data(args.data or SAMPLE, args.label_names.split(","))
    serve = load_latest(args.export_dir).signatures["serving_default"]
    probabilities = [serve(text=tf.constant(data.texts[start : start + 256]))["probabilities"]
                     for start in range(0, len(data), 256)]
    report = classification.classification_report(
        data.labels, tf.concat(probabilities, axis=0).numpy(), data.label_names)
    print(classification.format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
