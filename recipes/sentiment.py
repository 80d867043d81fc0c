"""Sentiment classification: train, evaluate, export, predict.

    python recipes/sentiment.py                       # train on the built-in sample and export
    python recipes/sentiment.py train --data ../shared/datasets/sentiment/sst2/train.tsv \
        --dev-data ../shared/datasets/sentiment/sst2/dev.tsv --model rnn --cell lstm
    python recipes/sentiment.py evaluate --data ../shared/datasets/sentiment/sst2/dev.tsv
    python recipes/sentiment.py predict "a gripping , funny film" "a dull mess"
    echo "what a waste of time" | python recipes/sentiment.py predict
    python recipes/sentiment.py export                 # export the last trained model again

Data (`--data`): a TSV/CSV with `sentence` and `label` columns (GLUE SST-2), a folder with
`*.pos`/`*.neg` line files (Movie Review), or a folder of class folders (IMDB `train/`). Without
`--dev-data`, a seeded `--dev-fraction` of `--data` is held out. The export in
`saved_models/sentiment/<version>/` takes raw text (`text`) and answers `probabilities`, `label`
and `score`; `saved_models/README.md` shows how to serve it.
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.join(HERE, "data", "sentiment_sample.tsv")


def parse_args(argv):
    from nlpkit import classifier
    from nlpkit.cli import add_training_flags, positive_int

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "command", nargs="?", default="train", choices=["train", "evaluate", "predict", "export"],
        help="train (then evaluate on the dev set and export), evaluate the latest export on "
        "--data, predict with the latest export, or export the last trained model "
        "(default: %(default)s)",
    )
    parser.add_argument("texts", nargs="*", help="predict: texts to classify (default: stdin)")
    add_training_flags(parser, name="sentiment", epochs=5, batch_size=32, patience=2)
    data = parser.add_argument_group("data and tokenization")
    data.add_argument("--dev-data", metavar="PATH", help="dev set (default: hold out "
                      "--dev-fraction of --data)")
    data.add_argument("--dev-fraction", type=float, default=0.1,
                      help="share of --data held out as dev set (default: %(default)s)")
    data.add_argument("--split-seed", type=int, default=0,
                      help="seed of the train/dev split (default: %(default)s)")
    data.add_argument("--label-names", default="negative,positive",
                      help="comma-separated names of the label ids 0, 1, ... as the export "
                      "answers them (default: %(default)s)")
    data.add_argument("--vocab-size", type=positive_int, default=20000,
                      help="most frequent words kept (default: %(default)s)")
    data.add_argument("--max-length", type=positive_int, default=100,
                      help="words kept per text; longer texts are cut (default: %(default)s)")
    model = parser.add_argument_group("model")
    model.add_argument("--model", choices=classifier.ENCODERS, default="rnn",
                       help="bag of words, bag of embeddings, Kim's CNN or a recurrent encoder "
                       "(default: %(default)s)")
    model.add_argument("--cell", choices=sorted(classifier.CELLS), default="lstm",
                       help="recurrent cell for --model rnn (default: %(default)s)")
    model.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=True,
                       help="read the text both ways (default: %(default)s)")
    model.add_argument("--layers", type=positive_int, default=1,
                       help="stacked recurrent layers (default: %(default)s)")
    model.add_argument("--pooling", choices=sorted(classifier.POOLINGS), default="last",
                       help="how states become one vector (default: %(default)s)")
    model.add_argument("--bow-mode", choices=["multi_hot", "count", "tf_idf"], default="tf_idf",
                       help="--model bow features (default: %(default)s)")
    model.add_argument("--embedding-dim", type=positive_int, default=128,
                       help="(default: %(default)s)")
    model.add_argument("--units", type=positive_int, default=128,
                       help="recurrent units per direction (default: %(default)s)")
    model.add_argument("--filters", type=positive_int, default=100,
                       help="CNN filters per width (default: %(default)s)")
    model.add_argument("--dropout", type=float, default=0.5, help="(default: %(default)s)")
    return parser, parser.parse_intermixed_args(argv)


def main(argv=None):
    parser, args = parse_args(argv)
    from nlpkit.data import DataFormatError

    try:
        return run(args)
    except (FileNotFoundError, DataFormatError) as error:
        parser.exit(2, f"sentiment.py: error: {error}\n")


def run(args):
    from nlpkit.cli import setup_runtime

    strategy = setup_runtime(args)
    if args.command == "predict":
        return predict(args)
    if args.command == "evaluate":
        return evaluate(args)
    if args.command == "export":
        return export(args)
    return train(args, strategy)


def train(args, strategy):
    import keras

    from nlpkit import classification, classifier
    from nlpkit.cli import run_config, save_run_config, training_config_from_args
    from nlpkit.data import DataFormatError, split_examples
    from nlpkit.text import WordTokenizer
    from nlpkit.training import train as fit

    # 1. Data: read, split, learn the vocabulary from the training part only.
    data = classification.read_labelled_data(args.data or SAMPLE)
    if args.dev_data:
        train_texts, dev_texts = data, classification.read_labelled_data(args.dev_data)
    else:
        train_texts, dev_texts = split_examples(
            data, (1 - args.dev_fraction, args.dev_fraction), seed=args.split_seed)
    label_names = args.label_names.split(",")
    if len(label_names) != len(train_texts.label_names):
        raise DataFormatError(args.data or SAMPLE, None, f"{len(label_names)} labels "
                              f"(--label-names {args.label_names})", train_texts.label_names)
    tokenizer = WordTokenizer(lowercase=True, max_length=args.max_length)
    tokenizer.adapt(train_texts.texts, max_size=args.vocab_size)
    print(f"{len(train_texts)} training and {len(dev_texts)} dev texts, "
          f"{tokenizer.vocabulary_size} words, labels {label_names}")

    # 2. Model: token ids -> probabilities; the tokenizer goes in front of it at export time.
    def build_model():
        model = classifier.build_classifier(
            tokenizer.vocabulary_size, len(label_names), encoder=args.model, cell=args.cell,
            bidirectional=args.bidirectional, num_layers=args.layers, pooling=args.pooling,
            embedding_dim=args.embedding_dim, units=args.units, filters=args.filters,
            bow_mode=args.bow_mode, dropout=args.dropout)
        if args.model == "bow":
            classifier.adapt_classifier(model, classification.padded_token_ids(train_texts, tokenizer))
        return model

    # 3. Train, with checkpoints, resumable backups, TensorBoard logs and early stopping.
    config = training_config_from_args(args, monitor="val_accuracy", monitor_mode="max")
    result = fit(build_model, classification.tokenized_examples(train_texts, tokenizer), config,
                 loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                 dev_data=classification.tokenized_examples(dev_texts, tokenizer),
                 strategy=strategy)

    # 4. Evaluate on the dev set and keep the scores next to the checkpoints.
    dev_ids = classification.padded_token_ids(dev_texts, tokenizer)
    report = classification.classification_report(
        dev_texts.labels, result.model.predict(dev_ids, batch_size=256, verbose=0), label_names)
    print(classification.format_report(report))
    os.makedirs(args.run_dir, exist_ok=True)
    save_run_config(os.path.join(args.run_dir, "metrics.json"), report)
    result.model.save(os.path.join(args.run_dir, "model.keras"))
    with open(os.path.join(args.run_dir, "tokenizer.json"), "w", encoding="utf-8") as handle:
        json.dump(keras.saving.serialize_keras_object(tokenizer), handle)

    # 5. Export: raw text in, probabilities / label / score out.
    config_record = run_config(args, label_names=label_names, dev_metrics=report)
    save_run_config(os.path.join(args.run_dir, "run_config.json"), config_record)
    return export_version(args, tokenizer, result.model, label_names, config_record)


def export_version(args, tokenizer, model, label_names, config_record):
    from nlpkit.export import export_classifier

    version_dir = export_classifier(tokenizer, model, label_names, args.export_dir,
                                    run_config=config_record)
    print(f"exported {version_dir}")
    return 0


def export(args):
    import keras

    import nlpkit.layers  # noqa: F401  registers the layers and tokenizers that loading needs
    import nlpkit.text  # noqa: F401

    run_dir = args.run_dir
    model = keras.models.load_model(os.path.join(run_dir, "model.keras"))
    with open(os.path.join(run_dir, "tokenizer.json"), encoding="utf-8") as handle:
        tokenizer = keras.saving.deserialize_keras_object(json.load(handle))
    with open(os.path.join(run_dir, "run_config.json"), encoding="utf-8") as handle:
        config_record = json.load(handle)
    return export_version(args, tokenizer, model, config_record["label_names"], config_record)


def latest_export(args):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  registers the TF Text ops the export's tokenizer uses

    from nlpkit.export import existing_versions

    versions = existing_versions(args.export_dir)
    if not versions:
        raise FileNotFoundError(f"{args.export_dir}: no exported version; train first")
    return tf.saved_model.load(os.path.join(args.export_dir, str(versions[-1])))


def predict(args):
    import tensorflow as tf

    # Bytes, not str: the export replaces invalid UTF-8 itself, so pass stdin through untouched.
    texts = [text.encode() for text in args.texts] or [
        line.rstrip(b"\r\n") for line in sys.stdin.buffer]
    outputs = latest_export(args).signatures["serving_default"](text=tf.constant(texts))
    for text, label, score in zip(texts, outputs["label"].numpy(), outputs["score"].numpy()):
        print(f"{label.decode()}\t{score:.3f}\t{text.decode(errors='replace')}")
    return 0


def evaluate(args):
    import tensorflow as tf

    from nlpkit import classification

    data = classification.read_labelled_data(args.data or SAMPLE)
    serve = latest_export(args).signatures["serving_default"]
    probabilities = [serve(text=tf.constant(data.texts[start : start + 256]))["probabilities"]
                     for start in range(0, len(data), 256)]
    report = classification.classification_report(
        data.labels, tf.concat(probabilities, axis=0).numpy(), data.label_names)
    print(classification.format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
