r"""Sentiment classification: train, evaluate, export, predict.

    python recipes/sentiment.py                       # train on the built-in sample and export
    python recipes/sentiment.py train --data ../shared/datasets/sentiment/sst2/train.tsv \
        --dev-data ../shared/datasets/sentiment/sst2/dev.tsv --model rnn --cell lstm
    python recipes/sentiment.py train --data ../shared/datasets/sentiment/sst2/train.tsv \
        --dev-data ../shared/datasets/sentiment/sst2/dev.tsv --model rnn --pooling mean_max \
        --member model=cnn,embedding-dropout=0,max-norm=3     # a BiLSTM + CNN ensemble
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
"""

import argparse
import dataclasses
import functools
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.join(HERE, "data", "sentiment_sample.tsv")


def parse_args(argv):
    from nlpkit import classification, classifier
    from nlpkit.cli import add_training_flags

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "command", nargs="?", default="train", choices=["train", "evaluate", "predict", "export"],
        help="train (then evaluate on the dev set and export), evaluate the latest export on "
        "--data, predict with the latest export, or export the last trained model "
        # literal default: parse_intermixed_args hides positional defaults while it parses
        "(default: train)",
    )
    parser.add_argument("texts", nargs="*", help="predict: texts to classify (default: stdin)")
    add_training_flags(parser, name="sentiment", epochs=5, batch_size=32, patience=2)
    classification.add_data_flags(parser)
    model_flags = classifier.add_classifier_flags(parser)
    args = parser.parse_intermixed_args(argv)
    classification.check_data_flags(parser, args)
    args.member_overrides = classifier.member_overrides(parser, args, model_flags)
    return parser, args


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
    from nlpkit.data import DataFormatError
    from nlpkit.training import chief_write_dir
    from nlpkit.training import train as fit

    # 1. Data: read, split, learn the vocabulary from the training part only.
    data = classification.read_labelled_data(args.data or SAMPLE)
    train_texts, dev_texts = classification.train_dev_split(
        data, classification.read_labelled_data(args.dev_data) if args.dev_data else None,
        folds=args.folds, fold=args.fold, dev_fraction=args.dev_fraction, seed=args.split_seed)
    label_names = args.label_names.split(",")
    if len(label_names) != len(train_texts.label_names):
        raise DataFormatError(args.data or SAMPLE, None, f"{len(label_names)} labels "
                              f"(--label-names {args.label_names})", train_texts.label_names)
    tokenizer = classification.fit_tokenizer(
        args.tokenizer, train_texts.texts, args.vocab_size, args.max_length)
    print(f"{len(train_texts)} training and {len(dev_texts)} dev texts, "
          f"{tokenizer.vocabulary_size} {args.tokenizer} ids, labels {label_names}")

    # 2. Model: token ids -> probabilities; the tokenizer goes in front of it at export time.
    def build_model(args, name="classifier"):
        model = classifier.classifier_from_args(args, tokenizer.vocabulary_size,
                                                len(label_names), name)
        if args.model == "bow":
            classifier.adapt_classifier(model, classification.padded_token_ids(train_texts, tokenizer))
        return model

    # 3. Train, with checkpoints, resumable backups, TensorBoard logs and early stopping; an
    # ensemble trains its members one after another, each in its own run directory: --ensemble
    # copies of the model the flags describe, then one per --member with its own flags.
    dev_ids = classification.padded_token_ids(dev_texts, tokenizer)
    # Tokenized once (cached datasets), then read by every member.
    train_examples = classification.tokenized_examples(train_texts, tokenizer)
    dev_examples = classification.tokenized_examples(dev_texts, tokenizer)
    ensemble = len(args.member_overrides) > 1
    members, records = [], []
    for member, changes in enumerate(args.member_overrides):
        flags = argparse.Namespace(**{**vars(args), **changes})
        name, member_dir = "classifier", args.run_dir
        if ensemble:
            name = f"member_{member}"
            member_dir = os.path.join(args.run_dir, name)
        config = dataclasses.replace(
            training_config_from_args(flags, monitor="val_accuracy", monitor_mode="max"),
            run_dir=member_dir, seed=None if args.seed is None else args.seed + member)
        started = time.perf_counter()
        result = fit(functools.partial(build_model, flags, name), train_examples, config,
                     loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                     dev_data=dev_examples, strategy=strategy)
        members.append(result.model)
        records.append(result.summary(time.perf_counter() - started))
        if ensemble:
            records[-1]["flags"] = changes
            records[-1]["dev_accuracy"] = classification.classification_report(
                dev_texts.labels, result.model.predict(dev_ids, batch_size=256, verbose=0),
                label_names)["accuracy"]
    model = classifier.average_classifiers(members) if ensemble else members[0]

    # 4. Evaluate on the dev set and keep the scores next to the checkpoints.
    report = classification.classification_report(
        dev_texts.labels, model.predict(dev_ids, batch_size=256, verbose=0), label_names)
    print(classification.format_report(report))
    training = records[0] if not ensemble else {
        "members": records,
        "training_seconds": round(sum(record["training_seconds"] for record in records), 1)}
    config_record = run_config(args, label_names=label_names, dev_metrics=report)
    # Under multi-worker training every worker gets here; only the chief writes the run folder.
    with chief_write_dir(args.run_dir) as run_dir:
        save_run_config(os.path.join(run_dir, "metrics.json"), {**report, **training})
        model.save(os.path.join(run_dir, "model.keras"))
        with open(os.path.join(run_dir, "tokenizer.json"), "w", encoding="utf-8") as handle:
            json.dump(keras.saving.serialize_keras_object(tokenizer), handle)
        save_run_config(os.path.join(run_dir, "run_config.json"), config_record)

    # 5. Export: raw text in, probabilities / label / score out (export_model is chief-aware).
    return export_version(args, tokenizer, model, label_names, config_record)


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


def predict(args):
    import tensorflow as tf

    # Bytes, not str: the export replaces invalid UTF-8 itself, so pass stdin through untouched.
    texts = [text.encode() for text in args.texts] or [
        line.rstrip(b"\r\n") for line in sys.stdin.buffer]
    from nlpkit.export import load_latest

    outputs = load_latest(args.export_dir).signatures["serving_default"](text=tf.constant(texts))
    for text, label, score in zip(texts, outputs["label"].numpy(), outputs["score"].numpy()):
        print(f"{label.decode()}\t{score:.3f}\t{text.decode(errors='replace')}")
    return 0


def evaluate(args):
    import tensorflow as tf

    from nlpkit import classification
    from nlpkit.export import load_latest

    data = classification.read_labelled_data(args.data or SAMPLE)
    serve = load_latest(args.export_dir).signatures["serving_default"]
    probabilities = [serve(text=tf.constant(data.texts[start : start + 256]))["probabilities"]
                     for start in range(0, len(data), 256)]
    report = classification.classification_report(
        data.labels, tf.concat(probabilities, axis=0).numpy(), data.label_names)
    print(classification.format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
