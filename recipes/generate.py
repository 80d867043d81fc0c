r"""Text generation: a character or word language model; train, evaluate, sample, export.

    python recipes/generate.py                         # the built-in text, characters, export
    python recipes/generate.py --data ../shared/datasets/chargen/tinyshakespeare/input.txt
    python recipes/generate.py --data input.txt --unit word --min-count 3 --tie-embeddings \
        --embedding-dim 256                            # words, <unk> and <eos>, tied weights
    python recipes/generate.py sample --prompt "ROMEO:" --temperature 0.8 --length 400
    python recipes/generate.py evaluate --data held_out.txt   # nats/bits per unit, perplexity
    python recipes/generate.py export                  # export the last trained model again

Data (`--data`): any UTF-8 text file; the last `--val-fraction` of it (10%) is the validation
text, contiguous, as is usual for Tiny Shakespeare. Training uses truncated backpropagation
through time: the text is cut into `--batch-size` streams, each batch holds the next `--bptt`
units of every stream, and the recurrent state is carried from one batch to the next (reset at
each epoch) without gradients crossing the cut. The export in `saved_models/generate/<version>/`
samples continuations of prompts (`serving_default`), steps a stream unit by unit (`step`,
`initial_state`) and scores text (`score`); `saved_models/README.md` shows them.
"""

import argparse
import dataclasses
import json
import os
import sys
import time

import tensorflow as tf

import nlpkit.layers  # noqa: F401  registers the layers that loading needs
from nlpkit import cli
from nlpkit.cli import NumberRange, non_negative_int, positive_float, positive_int
from nlpkit.data import read_text
from nlpkit.export import load_latest
from nlpkit.tasks import generation
from nlpkit.training import chief_write_dir, train

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.join(HERE, "data", "generation_sample.txt")
SAMPLE_TEMPERATURES = (0.5, 0.8, 1.0)
top_p_range = NumberRange(float, minimum=0, maximum=1, exclusive_minimum=True)


def build_parser():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "command", nargs="?", default="train", choices=["train", "evaluate", "sample", "export"],
        help="train (then score the validation text, print samples and export), evaluate the "
        "latest export on --data, sample from the latest export, or export the last trained "
        "model (default: train)")
    cli.add_training_flags(parser, name="generate", epochs=10, batch_size=32, patience=3,
                           learning_rate=2e-3)
    # Exploding gradients are the classic failure of recurrent language models.
    parser.set_defaults(clipnorm=5.0)
    generation.add_data_flags(parser)
    generation.add_language_model_flags(parser)
    sampling = parser.add_argument_group("sampling")
    sampling.add_argument("--prompt", default="",
                          help="sample: the text to continue (default: empty, i.e. a new line)")
    sampling.add_argument("--length", type=non_negative_int, default=300,
                          help="sample: units to generate; the export caps it at "
                          f"{generation.MAX_GENERATED_UNITS} ({non_negative_int}; default: "
                          "%(default)s)")
    sampling.add_argument("--temperature", type=positive_float, default=0.8,
                          help="sample: softmax temperature; lower is more conservative "
                          f"({positive_float}; default: %(default)s)")
    sampling.add_argument("--top-k", type=non_negative_int, default=0,
                          help="sample: keep the k most probable units, 0 = all "
                          f"({non_negative_int}; default: %(default)s)")
    sampling.add_argument("--top-p", type=top_p_range, default=1.0,
                          help="sample: keep the smallest set of units whose probability "
                          f"reaches p (nucleus sampling) ({top_p_range}; default: %(default)s)")
    sampling.add_argument("--sample-seed", type=positive_int, default=1,
                          help="sample: seed of the draws; the same seed gives the same text "
                          f"({positive_int}; default: %(default)s)")
    return parser


def parse_args(argv):
    parser = build_parser()
    return parser, parser.parse_intermixed_args(argv)


def main(argv=None):
    parser, args = parse_args(argv)
    commands = {"train": train_command, "evaluate": evaluate, "sample": sample,
                "export": export}
    return cli.run_command(parser, args, commands)


def train_command(args, strategy):
    # 1. Data: the text, its last --val-fraction held out, the units of the training part.
    path = args.data or SAMPLE
    train_text, val_text = generation.train_validation_text(read_text(path), args.val_fraction)
    vocabulary = generation.UnitVocabulary.fit(train_text, unit=args.unit,
                                               min_count=args.min_count,
                                               max_size=args.vocab_size)
    train_ids, val_ids = vocabulary.encode(train_text), vocabulary.encode(val_text)
    generation.require_one_window_per_stream(
        path, {"training text": train_ids, "validation text": val_ids}, args.batch_size,
        args.bptt, args.unit)
    print(f"{len(train_ids)} training and {len(val_ids)} validation {args.unit}s, "
          f"{len(vocabulary)} ids")

    # 2. Model: a stateful language model, one row per stream of the text.
    options = cli.options_from_args(generation.LanguageModelOptions, args)

    def build_model():
        return generation.build_language_model(len(vocabulary), options,
                                               batch_size=args.batch_size, stateful=True)

    # 3. Train with TBPTT: the windows in order (no shuffling), the state carried across them
    # and reset at each epoch and around each evaluation.
    config = dataclasses.replace(cli.training_config_from_args(args), shuffle=False)
    started = time.perf_counter()
    trained = train(build_model, generation.stream_examples(train_ids, args.batch_size, args.bptt),
                    config, loss=generation.language_model_loss(),
                    dev_data=generation.stream_examples(val_ids, args.batch_size, args.bptt),
                    strategy=strategy, callbacks=[generation.CarriedStateResets()])
    training_seconds = time.perf_counter() - started
    model = trained.model

    # 4. Evaluate: the whole validation text with carried state, in nats and bits per unit.
    scores = generation.evaluate_carried(model, val_ids, args.batch_size, args.bptt)
    print(f"validation: {scores['nats_per_unit']:.4f} nats per {args.unit}, "
          f"{scores['bits_per_unit']:.4f} bits, perplexity {scores['perplexity']:.2f}")
    summary = trained.summary(training_seconds, monitor="val_loss", mode="min")
    config_record = cli.run_config(args, metrics=scores, model=options)
    with chief_write_dir(args.run_dir) as run_dir:
        cli.save_run_config(os.path.join(run_dir, "metrics.json"), {**scores, **summary})
        generation.plot_learning_curve(summary["history"], os.path.join(run_dir,
                                                                         "learning_curve.png"),
                                       unit=args.unit)
        model.save_weights(os.path.join(run_dir, "language_model.weights.h5"))
        cli.save_run_config(os.path.join(run_dir, "vocabulary.json"), vocabulary.get_config())
        cli.save_run_config(os.path.join(run_dir, "run_config.json"), config_record)

    # 5. Export, then show what the model writes at a few temperatures.
    status = export_version(args, vocabulary, model, config_record)
    for temperature in SAMPLE_TEMPERATURES:
        print(f"--- temperature {temperature}:")
        print(generate_text(args, args.prompt, temperature=temperature))
    return status


def export_version(args, vocabulary, model, config_record):
    version_dir = generation.export_language_model(vocabulary, model, args.export_dir,
                                                   run_config=config_record)
    print(f"exported {version_dir}")
    return 0


def export(args, strategy):
    config_record = cli.read_run_file(args.run_dir, "run_config.json")
    vocabulary = generation.UnitVocabulary.from_config(
        cli.read_run_file(args.run_dir, "vocabulary.json"))
    options = generation.LanguageModelOptions(**config_record["model"])
    model = generation.build_language_model(len(vocabulary), options)
    model.load_weights(os.path.join(args.run_dir, "language_model.weights.h5"))
    return export_version(args, vocabulary, model, config_record)


def generate_text(args, prompt, *, temperature):
    generate = load_latest(args.export_dir).signatures["serving_default"]
    out = generate(prompt=tf.constant([prompt.encode()]), length=tf.constant(args.length),
                   temperature=tf.constant(temperature, tf.float32),
                   top_k=tf.constant(args.top_k), top_p=tf.constant(args.top_p, tf.float32),
                   seed=tf.constant(args.sample_seed, tf.int64))
    return prompt + out["text"].numpy()[0].decode(errors="replace")


def sample(args, strategy):
    print(generate_text(args, args.prompt, temperature=args.temperature))
    return 0


def evaluate(args, strategy):
    text = read_text(args.data or SAMPLE)
    score = load_latest(args.export_dir).signatures["score"]
    out = score(text=tf.constant([text]))
    nats = float(out["nats_per_unit"].numpy()[0])
    report = {"nats_per_unit": nats, "bits_per_unit": generation.bits_per_unit(nats),
              "perplexity": generation.perplexity(nats),
              "units": int(out["units"].numpy()[0])}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
