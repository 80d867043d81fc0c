r"""Named-entity recognition: train, evaluate, export, predict.

    python recipes/ner.py                              # train on the built-in sample and export
    python recipes/ner.py train --data ../shared/datasets/ner/conll2003/eng.train \
        --dev-data ../shared/datasets/ner/conll2003/eng.testa \
        --embeddings ../shared/datasets/embeddings/glove.6B.50d/vectors.txt.gz  # BiLSTM-CRF
    python recipes/ner.py evaluate --data ../shared/datasets/ner/conll2003/eng.testa
    python recipes/ner.py predict "Angela Merkel visited New York ."
    echo "EU rejects German call" | python recipes/ner.py predict
    python recipes/ner.py export                       # export the last trained model again

Data (`--data`, `--dev-data`): CoNLL column files (`token ... tag` per line, a blank line after
each sentence, `-DOCSTART-` lines skipped; the tag column is `--tag-column`, the last by
default) or `token<TAB>tag` files (WNUT, WikiANN), in the scheme `--tag-scheme` says (IOB1 is
converted). The model learns `--output-scheme` tags. Without `--dev-data`, a seeded
`--dev-fraction` of `--data` is held out. The export in `saved_models/ner/<version>/` takes raw
text and answers tokens, tags and entity spans (`serving_default`), or tags pre-split words
(`tag_tokens`); `saved_models/README.md` shows both.
"""

import argparse
import json
import os
import sys

import keras
import tensorflow as tf

import nlpkit.layers  # noqa: F401  registers the layers and tokenizers that loading needs
import nlpkit.text  # noqa: F401
from nlpkit import cli
from nlpkit.export import RUN_CONFIG_PATH, existing_versions, load_latest
from nlpkit.tasks import tagging
from nlpkit.training import (
    chief_write_dir,
    train_ensemble,
)

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.join(HERE, "data", "ner_sample.txt")


def build_parser():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "command", nargs="?", default="train", choices=["train", "evaluate", "predict", "export"],
        help="train (then evaluate on the dev set and export), evaluate the latest export on "
        "--data, predict with the latest export, or export the last trained model "
        "(default: train)")
    parser.add_argument("texts", nargs="*", help="predict: sentences to tag (default: stdin)")
    cli.add_training_flags(parser, name="ner", epochs=15, batch_size=16, patience=3)
    tagging.add_data_flags(parser)
    tagging.add_tagger_flags(parser)
    cli.add_word_vector_flags(parser)
    return parser


def parse_args(argv):
    parser = build_parser()
    args = parser.parse_intermixed_args(argv)
    tagging.check_word_vector_flags(parser, args)
    tagging.check_hub_encoder_flags(parser, args)
    return parser, args


def main(argv=None):
    parser, args = parse_args(argv)
    commands = {"train": train, "evaluate": evaluate, "predict": predict, "export": export}
    return cli.run_command(parser, args, commands)


def read(args, path):
    return tagging.read_tagged_data(
        path, scheme=args.tag_scheme, tag_column=args.tag_column, token_column=args.token_column,
        units=args.sequences, max_length=args.max_length, skip_bad_lines=args.skip_bad_lines)


def train(args, strategy):
    # 1. Data: read (into IOB2), split, convert to the model's scheme, learn the vocabularies.
    train_data, dev_data = tagging.train_dev_split(
        read(args, args.data or SAMPLE), read(args, args.dev_data) if args.dev_data else None,
        dev_fraction=args.dev_fraction, seed=args.split_seed)
    train_tags = tagging.to_scheme(train_data.tags, args.output_scheme)
    dev_tags = tagging.to_scheme(dev_data.tags, args.output_scheme)
    tag_names = tagging.tag_names_of(train_tags)
    tagging.check_known_tags(dev_data, dev_tags, tag_names)
    options = cli.options_from_args(tagging.TaggerOptions, args)
    features = tagging.TokenFeatures.fit(
        train_data.tokens, vocab_size=args.vocab_size, lowercase=args.lowercase,
        characters=options.uses_characters, casing=options.casing,
        max_word_length=args.max_word_length, tokens=options.hub_encoder is not None)
    vector_options = cli.WordVectorOptions.from_args(args)
    vectors = tagging.load_word_vectors(vector_options, features, train_data.tokens,
                                        seed=args.seed or 0)
    print(f"{len(train_data)} training and {len(dev_data)} dev sentences, "
          f"{features.word_vocabulary_size} words, {features.char_vocabulary_size} characters, "
          f"tags {tag_names}")
    if vectors:
        print(vectors.describe())
    crf = options.decoder == "crf"
    train_examples = tagging.tagged_examples(train_data.tokens, train_tags, tag_names, features,
                                             gold_tags=crf)
    dev_examples = tagging.tagged_examples(dev_data.tokens, dev_tags, tag_names, features,
                                           gold_tags=crf)

    # 2. Model: word, character and casing features -> BiLSTM layers -> CRF (or softmax). The
    # splitting and featurization join it in front at export time.
    def build_model(options, name):
        return tagging.build_tagger(
            features.word_vocabulary_size, features.char_vocabulary_size, tag_names, options,
            scheme=args.output_scheme, vectors=vectors, vector_options=vector_options, name=name)

    # 3. Train with checkpoints, resumable backups, TensorBoard logs and early stopping on the
    # dev set's entity F1, val_f1 (the CRF adds its own loss).
    members = cli.ensemble_members(args, tagging.TaggerOptions, name="tagger",
                                   monitor="val_f1", monitor_mode="max")
    trained = train_ensemble(
        members, build_model, train_examples,
        loss=None if crf else tagging.padded_tag_crossentropy,
        metrics=tagging.entity_scores(tag_names),
        dev_data=dev_examples, strategy=strategy)
    model = tagging.serving_tagger(trained.model)

    # 4. Evaluate on the dev set (seqeval, per type) and keep the scores next to the checkpoints.
    predicted = tagging.predict_tags(model, features, dev_data.tokens, tag_names)
    report = tagging.entity_report(dev_tags, predicted)
    print(tagging.format_report(report))
    config_record = cli.run_config(args, tag_names=tag_names, dev_metrics=report,
                                   models=[member.options for member in members],
                                   word_vectors=vectors.summary() if vectors else None)
    # Under multi-worker training every worker gets here; only the chief writes the run folder.
    with chief_write_dir(args.run_dir) as run_dir:
        cli.save_run_config(os.path.join(run_dir, "metrics.json"), {**report, **trained.summary})
        trained.model.save(os.path.join(run_dir, "model.keras"))
        cli.save_run_config(os.path.join(run_dir, "features.json"), features.get_config())
        cli.save_run_config(os.path.join(run_dir, "run_config.json"), config_record)

    # 5. Export: raw text in, tokens / tags / entities out (export_model is chief-aware).
    return export_version(args, features, model, tag_names, config_record)


def export_version(args, features, model, tag_names, config_record):
    version_dir = tagging.export_tagger(features, model, tag_names, args.export_dir,
                                        max_tokens=args.max_length, run_config=config_record)
    print(f"exported {version_dir}")
    return 0


def export(args, strategy):
    model = tagging.serving_tagger(keras.models.load_model(
        os.path.join(args.run_dir, "model.keras"), compile=False))
    features = tagging.TokenFeatures.from_config(
        cli.read_run_file(args.run_dir, "features.json"))
    config_record = cli.read_run_file(args.run_dir, "run_config.json")
    return export_version(args, features, model, config_record["tag_names"], config_record)


def predict(args, strategy):
    # Bytes, not str: the export replaces invalid UTF-8 itself, so pass stdin through untouched.
    texts = [text.encode() for text in args.texts] or [
        line.rstrip(b"\r\n") for line in sys.stdin.buffer]
    out = load_latest(args.export_dir).signatures["serving_default"](text=tf.constant(texts))
    out = {name: value.numpy() for name, value in out.items()}
    for row in range(len(texts)):
        length, count = out["lengths"][row], out["num_entities"][row]
        print(json.dumps({
            "entities": [{"type": out["entity_type"][row][k].decode(),
                          "start": int(out["entity_start"][row][k]),
                          "end": int(out["entity_end"][row][k]),
                          "text": out["entity_text"][row][k].decode(errors="replace")}
                         for k in range(count)],
            "tokens": [token.decode() for token in out["tokens"][row][:length]],
            "tags": [tag.decode() for tag in out["tags"][row][:length]],
        }, ensure_ascii=False))
    return 0


def evaluate(args, strategy):
    data = read(args, args.data or SAMPLE)
    serve = load_latest(args.export_dir).signatures["tag_tokens"]
    latest = os.path.join(args.export_dir, str(existing_versions(args.export_dir)[-1]))
    with open(os.path.join(latest, RUN_CONFIG_PATH), encoding="utf-8") as handle:
        scheme = json.load(handle)["flags"]["output_scheme"]  # the tags the export answers
    predicted = []
    for start in range(0, len(data), 256):
        chunk = data.tokens[start : start + 256]
        tokens = tf.ragged.constant(chunk, dtype=tf.string).to_tensor("")
        tags = serve(tokens=tokens, lengths=tf.constant([len(s) for s in chunk], tf.int32))
        predicted += [[tag.decode() for tag in row[: len(s)]]
                      for row, s in zip(tags["tags"].numpy(), chunk)]
    print(tagging.format_report(tagging.entity_report(tagging.to_scheme(data.tags, scheme),
                                                      predicted)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
