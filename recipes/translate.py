r"""Translation: train, evaluate, export, predict.

    python recipes/translate.py                        # train on the built-in sample and export
    python recipes/translate.py train --data ../shared/datasets/translation/spa-eng/spa.txt \
        --source-column 1 --target-column 0 --test-fraction 0.05   # Spanish -> English
    python recipes/translate.py train --data europarl.es europarl.en --dev-data dev.es dev.en
    python recipes/translate.py evaluate --data test.tsv --beam-size 1   # greedy, sacreBLEU
    python recipes/translate.py evaluate --data ../shared/datasets/translation/spa-eng/spa.txt \
        --dev-fraction 0.02 --test-fraction 0.04   # the test part of the training run's split
    python recipes/translate.py predict "¿Dónde está la estación?"
    echo "Tengo dos billetes." | python recipes/translate.py predict
    python recipes/translate.py export                 # export the last trained model again

Data (`--data`, `--dev-data`): a TSV of pairs, one per line (Tatoeba's `spa.txt` is
`English<TAB>Spanish`; `--source-column`/`--target-column` choose the direction), or two
line-aligned files `SOURCE_FILE TARGET_FILE`. Without `--dev-data`, a seeded `--dev-fraction`
of `--data` is held out, and with `--test-fraction` a test set too, grouped by source sentence:
no source sentence is in two parts. The export in `saved_models/translate/<version>/` takes
raw text and answers the translation and its score (`serving_default`, beam search inside), or
the n best (`translate_nbest`); `saved_models/README.md` shows both.
"""

import argparse
import json
import os
import sys
import time

import tensorflow as tf

import nlpkit.layers  # noqa: F401  registers the layers and tokenizers that loading needs
import nlpkit.text  # noqa: F401
from nlpkit import cli
from nlpkit.export import load_latest
from nlpkit.tasks import translation
from nlpkit.text import vocabulary_vectors
from nlpkit.training import chief_write_dir, train

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.join(HERE, "data", "translation_sample.tsv")


def build_parser():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "command", nargs="?", default="train", choices=["train", "evaluate", "predict", "export"],
        help="train (then score the dev and test sets and export), evaluate the latest export "
        "on --data (with --test-fraction: on the test part of its split) with --beam-size, "
        "predict with the latest export, or export the last trained model "
        "(default: train)")
    parser.add_argument("texts", nargs="*", help="predict: sentences to translate "
                        "(default: stdin)")
    cli.add_training_flags(
        parser, name="translate", epochs=10, batch_size=64, patience=2, data_nargs="+",
        data_help="training pairs: a TSV file, or SOURCE_FILE TARGET_FILE (default: the "
        "built-in Spanish-English sample)")
    translation.add_data_flags(parser)
    translation.add_translator_flags(parser)
    translation.add_decoding_flags(parser)
    cli.add_word_vector_flags(parser)
    parser.set_defaults(source_column=1, target_column=0)  # spa.txt: Spanish -> English
    return parser


def parse_args(argv):
    parser = build_parser()
    args = parser.parse_intermixed_args(argv)
    for flag, paths in (("--data", args.data), ("--dev-data", args.dev_data)):
        if paths is not None and len(paths) > 2:
            parser.error(f"{flag}: one TSV file or two aligned files, got {len(paths)} paths")
    cli.check_word_vector_flags(parser, args)
    return parser, args


def main(argv=None):
    parser, args = parse_args(argv)
    commands = {"train": train_command, "evaluate": evaluate, "predict": predict,
                "export": export}
    return cli.run_command(parser, args, commands)


def read(args, paths):
    return translation.read_pairs(paths, source_column=args.source_column,
                                  target_column=args.target_column,
                                  skip_bad_lines=args.skip_bad_lines)


def decoding(args):
    return dict(beam_size=args.beam_size, length_penalty=args.length_penalty,
                max_length_ratio=args.max_length_ratio,
                # generated pieces, [EOS] included: the target limit less its [BOS]
                max_length=args.max_target_length - 1)


def train_command(args, strategy):
    # 1. Data: read, hold out dev (and test) sets grouped by source sentence, learn both
    # subword vocabularies from the training part.
    train_pairs, dev_pairs, test_pairs = translation.split_pairs(
        read(args, args.data or [SAMPLE]), read(args, args.dev_data) if args.dev_data else None,
        dev_fraction=args.dev_fraction, test_fraction=args.test_fraction, seed=args.split_seed)
    tokenizers = translation.PairTokenizers.fit(
        train_pairs.sources, train_pairs.targets, tokenizer=args.tokenizer,
        source_vocab_size=args.source_vocab_size, target_vocab_size=args.target_vocab_size,
        lowercase_source=args.lowercase_source, lowercase_target=args.lowercase_target,
        normalization=None if args.normalization == "none" else args.normalization,
        max_source_length=args.max_source_length, max_target_length=args.max_target_length)
    vector_options = cli.WordVectorOptions.from_args(args)
    vectors = {side: load_vectors(args, vector_options, tokenizers, train_pairs, side)
               for side in ("source", "target")}
    print(f"{len(train_pairs)} training, {len(dev_pairs)} dev"
          f"{f', {len(test_pairs)} test' if test_pairs else ''} pairs; vocabularies "
          f"{tokenizers.source.vocabulary_size} source and {tokenizers.target.vocabulary_size} "
          f"target {args.tokenizer} ids; pieces per sentence (mean, 99th percentile) "
          f"{translation.length_statistics(train_pairs, tokenizers)}")
    train_examples = tokenizers.examples(train_pairs)
    dev_examples = tokenizers.examples(dev_pairs)

    # 2. Model: source ids -> recurrent encoder -> attention decoder -> target logits. The
    # tokenizers and the beam search join it at export time.
    options = cli.options_from_args(translation.TranslatorOptions, args)

    def build_model():
        return translation.Translator(
            tokenizers.source.vocabulary_size, tokenizers.target.vocabulary_size, options,
            source_vectors=vectors["source"], target_vectors=vectors["target"],
            vector_options=vector_options, name="translator")

    # 3. Train with teacher forcing, checkpoints, resumable backups and early stopping on the
    # dev loss; a few dev sentences are translated after every epoch.
    samples = translation.SampleTranslations(
        tokenizers, dev_pairs.sources, dev_pairs.targets, count=args.samples,
        max_length=args.max_target_length - 1)
    started = time.perf_counter()
    trained = train(build_model, train_examples, cli.training_config_from_args(args),
                    loss=translation.padded_token_crossentropy(options.label_smoothing),
                    metrics=[translation.TokenAccuracy()], dev_data=dev_examples,
                    strategy=strategy, callbacks=[samples])
    model = trained.model
    training_seconds = time.perf_counter() - started

    # 4. Evaluate: beam search on the dev (and test) sources, sacreBLEU against the references.
    report = {}
    for name, pairs in (("dev", dev_pairs), ("test", test_pairs)):
        if pairs is not None:
            hypotheses = translation.translate_texts(tokenizers, model, pairs.sources,
                                                     **decoding(args))
            report[name] = translation.bleu_report(hypotheses, pairs.targets)
            print(f"{name}: BLEU {report[name]['bleu']}, chrF {report[name]['chrf']} on "
                  f"{len(pairs)} pairs ({report[name]['bleu_signature']})")
    config_record = cli.run_config(args, metrics=report, model=options,
                                   word_vectors={side: v.summary() for side, v in vectors.items()
                                                 if v is not None} or None)
    # Under multi-worker training every worker gets here; only the chief writes the run folder.
    with chief_write_dir(args.run_dir) as run_dir:
        summary = trained.summary(training_seconds, monitor="val_loss", mode="min")
        cli.save_run_config(os.path.join(run_dir, "metrics.json"), {**report, **summary})
        model.save_weights(os.path.join(run_dir, "translator.weights.h5"))
        cli.save_run_config(os.path.join(run_dir, "tokenizers.json"), tokenizers.get_config())
        cli.save_run_config(os.path.join(run_dir, "run_config.json"), config_record)

    # 5. Export: text in, translation out, beam search in the graph (export_model is
    # chief-aware).
    return export_version(args, tokenizers, model, config_record)


def load_vectors(args, options, tokenizers, pairs, side):
    """The pretrained vectors of one side's vocabulary, when --embeddings is for that side."""
    if options.path is None or args.embeddings_side not in (side, "both"):
        return None
    tokenizer = getattr(tokenizers, side)
    texts = getattr(pairs, side + "s")

    def token_id_batches():
        for start in range(0, len(texts), 1024):
            yield tokenizer.tokenize(list(texts[start : start + 1024])).flat_values.numpy()

    vectors = vocabulary_vectors(options.path, tokenizer, token_id_batches,
                                 add_words=options.vocabulary_from_file, seed=args.seed or 0)
    print(f"{side}: {vectors.describe()}")
    return vectors


def export_version(args, tokenizers, model, config_record):
    version_dir = translation.export_translator(
        tokenizers, model, args.export_dir, beam_size=args.beam_size,
        length_penalty=args.length_penalty, max_length_ratio=args.max_length_ratio,
        max_target_length=args.max_target_length, run_config=config_record)
    print(f"exported {version_dir}")
    return 0


def export(args, strategy):
    config_record = cli.read_run_file(args.run_dir, "run_config.json")
    tokenizers = translation.PairTokenizers.from_config(
        cli.read_run_file(args.run_dir, "tokenizers.json"))
    options = translation.TranslatorOptions(**config_record["model"])
    model = translation.Translator(tokenizers.source.vocabulary_size,
                                   tokenizers.target.vocabulary_size, options)
    model({translation.SOURCE_IDS: tf.ones((1, 1), tf.int32),
           translation.TARGET_INPUTS: tf.ones((1, 1), tf.int32)})
    model.load_weights(os.path.join(args.run_dir, "translator.weights.h5"))
    # The decoding flags of this command line: an export may search with another beam.
    return export_version(args, tokenizers, model, config_record)


def predict(args, strategy):
    # Bytes, not str: the export replaces invalid UTF-8 itself, so pass stdin through untouched.
    texts = [text.encode() for text in args.texts] or [
        line.rstrip(b"\r\n") for line in sys.stdin.buffer]
    outputs = load_latest(args.export_dir).signatures["serving_default"](text=tf.constant(texts))
    for translated, score in zip(outputs["translation"].numpy(), outputs["score"].numpy()):
        print(f"{score:.3f}\t{translated.decode(errors='replace')}")
    return 0


def evaluate(args, strategy):
    pairs = read(args, args.data or [SAMPLE])
    if args.test_fraction > 0:
        # The test part of the same split as training's (same fractions and --split-seed).
        _, _, pairs = translation.split_pairs(pairs, dev_fraction=args.dev_fraction,
                                              test_fraction=args.test_fraction,
                                              seed=args.split_seed)
    search = load_latest(args.export_dir).signatures[translation.NBEST_SIGNATURE_KEY]
    hypotheses = []
    for start in range(0, len(pairs), 128):
        out = search(text=tf.constant(pairs.sources[start : start + 128]),
                     beam_size=tf.constant(args.beam_size),
                     max_length=tf.constant(args.max_target_length - 1))
        hypotheses += [t.decode(errors="replace") for t in out["translations"].numpy()[:, 0]]
    report = {**translation.bleu_report(hypotheses, pairs.targets), "beam_size": args.beam_size}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
