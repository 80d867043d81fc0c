r"""Pretraining: an ELMo-style bidirectional language model on plain text, exported as a
per-token TF Hub module for the NER and sentiment recipes' --hub-encoder.

    python recipes/pretrain.py                       # the built-in text, then export (~1-2 min)
    python recipes/pretrain.py --data corpus.txt --vocab-size 10000 --units 256 --epochs 2
    python recipes/pretrain.py export                # export the last trained model again
    python recipes/ner.py --hub-encoder saved_models/pretrain/1 --hub-combine concat

Any UTF-8 plain text: whitespace words, `<eos>` at every line end, the last --val-fraction held
out. Words are read by a character CNN (any word has a vector); the shared softmax covers the
--vocab-size most frequent training words (`<unk>` for the rest). Validation perplexity of each
direction goes to metrics.json.
"""

import argparse
import dataclasses
import os
import sys
import time

import nlpkit.layers  # noqa: F401  registers the layers that loading needs
from nlpkit import cli
from nlpkit.cli import NumberRange, fraction, positive_int
from nlpkit.data import DataFormatError, read_text
from nlpkit.tasks import generation, pretraining
from nlpkit.training import chief_write_dir, train

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.join(HERE, "data", "generation_sample.txt")
VOCABULARY_SIZE = NumberRange(int, minimum=4)


def build_parser():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", default="train", choices=["train", "export"],
                        help="train (then export), or export the last trained model "
                        "(default: train)")
    cli.add_training_flags(parser, name="pretrain", epochs=2, batch_size=16, patience=2,
                           learning_rate=2e-3)
    # Exploding gradients are the classic failure of recurrent language models.
    parser.set_defaults(clipnorm=5.0)
    data = parser.add_argument_group("data")
    data.add_argument("--vocab-size", type=VOCABULARY_SIZE, default=20000,
                      help="words of the shared softmax, <unk> and <eos> included "
                      f"({VOCABULARY_SIZE}; default: %(default)s)")
    data.add_argument("--val-fraction", type=fraction, default=0.1,
                      help=f"the last part of the text held out ({fraction}; default: "
                      "%(default)s)")
    data.add_argument("--bptt", type=positive_int, default=20,
                      help=f"words per TBPTT window ({positive_int}; default: %(default)s)")
    cli.add_option_flags(parser, pretraining.BiLMOptions, "model")
    return parser


def parse_args(argv):
    parser = build_parser()
    return parser, parser.parse_intermixed_args(argv)


def main(argv=None):
    parser, args = parse_args(argv)
    return cli.run_command(parser, args, {"train": train_command, "export": export})


def read_words(path):
    """The text of `path` (UTF-8, not empty: `read_text` names the file and line otherwise)."""
    text = read_text(path)
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise DataFormatError(path, line, "plain text", "a NUL byte (a binary file?)")
    if not text.split():
        raise DataFormatError(path, None, "some words", "only whitespace")
    return text


def train_command(args, strategy):
    # 1. Data: words (with <eos> per line), the last part held out, a capped vocabulary.
    path = args.data or SAMPLE
    train_text, val_text = generation.train_validation_text(read_words(path), args.val_fraction)
    vocabulary = generation.UnitVocabulary.fit(train_text, unit="word", max_size=args.vocab_size)
    train_ids, val_ids = vocabulary.encode(train_text), vocabulary.encode(val_text)
    generation.require_one_window_per_stream(
        path, {"training text": train_ids, "validation text": val_ids}, args.batch_size,
        args.bptt, "word")
    print(f"{len(train_ids)} training and {len(val_ids)} validation words, "
          f"{len(vocabulary)} softmax words")

    # 2. Model: both directions, stateful, sharing the character encoder and the softmax.
    options = cli.options_from_args(pretraining.BiLMOptions, args)
    words = list(vocabulary.units)
    directions = {}

    def build_model():
        model, directions["forward"], directions["backward"] = (
            pretraining.build_bidirectional_lm(words, options, batch_size=args.batch_size,
                                               stateful=True))
        return model

    # 3. Train with TBPTT (generation's streams, state resets and loss).
    config = dataclasses.replace(cli.training_config_from_args(args), shuffle=False)
    started = time.perf_counter()
    trained = train(build_model,
                    pretraining.bidirectional_examples(train_ids, args.batch_size, args.bptt),
                    config, loss=generation.language_model_loss(),
                    dev_data=pretraining.bidirectional_examples(val_ids, args.batch_size,
                                                                args.bptt),
                    strategy=strategy, callbacks=[generation.CarriedStateResets()])
    training_seconds = time.perf_counter() - started

    # 4. Validation perplexity of each direction, the whole held-out text with carried state.
    scores = {
        "forward": generation.evaluate_carried(directions["forward"], val_ids,
                                               args.batch_size, args.bptt),
        "backward": generation.evaluate_carried(directions["backward"], val_ids[::-1].copy(),
                                                args.batch_size, args.bptt)}
    for direction, score in scores.items():
        print(f"validation {direction}: perplexity {score['perplexity']:.2f} "
              f"({score['nats_per_unit']:.4f} nats per word)")
    summary = trained.summary(training_seconds, monitor="val_loss", mode="min")
    config_record = cli.run_config(args, metrics=scores, model=dataclasses.asdict(options))
    with chief_write_dir(args.run_dir) as run_dir:
        cli.save_run_config(os.path.join(run_dir, "metrics.json"), {**scores, **summary})
        trained.model.save_weights(os.path.join(run_dir, "bilm.weights.h5"))
        cli.save_run_config(os.path.join(run_dir, "vocabulary.json"), vocabulary.get_config())
        cli.save_run_config(os.path.join(run_dir, "run_config.json"), config_record)
    return export_version(args, trained.model, words, options, config_record)


def export_version(args, model, words, options, config_record):
    version_dir = pretraining.export_bilm(model, words, options, args.export_dir,
                                          run_config=config_record)
    print(f"exported {version_dir}")
    return 0


def export(args, strategy):
    config_record = cli.read_run_file(args.run_dir, "run_config.json")
    vocabulary = generation.UnitVocabulary.from_config(
        cli.read_run_file(args.run_dir, "vocabulary.json"))
    options = pretraining.BiLMOptions(**config_record["model"])
    model, _, _ = pretraining.build_bidirectional_lm(list(vocabulary.units), options)
    model.load_weights(os.path.join(args.run_dir, "bilm.weights.h5"))
    return export_version(args, model, list(vocabulary.units), options, config_record)


if __name__ == "__main__":
    sys.exit(main())
