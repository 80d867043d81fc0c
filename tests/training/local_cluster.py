"""Runs `tests.training.multi_worker_worker` processes as a cluster on 127.0.0.1.

Every process gets its own `TF_CONFIG` and its own `TMPDIR` (so a test can check that non-chief
workers remove their temporary directories). Output goes to a log file per process; a test waits
for a file that a worker creates (`Worker.wait_for_file`), never for time to pass; `stop_all`
kills whatever still runs.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np

from tests.training.tiny_training import REPO_ROOT

# 44 examples / global batch 8: 5 full batches and one of 4, i.e. 2 examples per worker. Plain SGD,
# where the size of every step matters (see multi_worker_worker.py for the defaults).
TRAINING_ARGS = ["--epochs", "2", "--batch-size", "8", "--examples", "44", "--clipnorm", "0.5"]


def run_args(root, name):
    """Worker arguments writing everything under `root/name`, with `TRAINING_ARGS`."""
    return ["--out", root / name / "out", "--run-dir", root / name / "run",
            "--export-dir", root / name / "export", *TRAINING_ARGS]


def load_report(root, name, index):
    """The JSON report and the final weights that worker `index` of run `name` wrote."""
    out = root / name / "out"
    with open(out / f"worker-{index}.json", encoding="utf-8") as file:
        report = json.load(file)
    weights = np.load(out / f"worker-{index}.npz")
    return report, [weights[key] for key in weights.files]


def free_ports(count):
    """`count` distinct TCP ports that are free on 127.0.0.1 right now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def tf_config(ports, index):
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    return json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})


class Worker:
    """One `multi_worker_worker` process; its stdout and stderr go to `log_path`."""

    def __init__(self, args, *, tf_config_json, tmpdir, log_path):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="",
                   TMPDIR=str(tmpdir), PYTHONPATH=str(REPO_ROOT))
        env.pop("TF_CONFIG", None)
        if tf_config_json is not None:
            env["TF_CONFIG"] = tf_config_json
        os.makedirs(tmpdir, exist_ok=True)
        self.log_path = log_path
        self._log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115  closed in wait()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.training.multi_worker_worker", *map(str, args)],
            cwd=REPO_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, text=True,
        )

    def wait_for_file(self, path, deadline):
        """Waits until `path` exists; False if the worker ends first or `deadline` passes."""
        while not os.path.exists(path):
            if self.process.poll() is not None or time.monotonic() > deadline:
                return os.path.exists(path)
            time.sleep(0.05)
        return True

    def kill(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def wait(self, deadline):
        """Exit code, or None if the worker was still running at `deadline` (it is killed)."""
        try:
            return self.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return None
        finally:
            if self.process.poll() is None:
                self.kill()
            self._log.close()

    def log_tail(self, characters=3000):
        with open(self.log_path, encoding="utf-8", errors="replace") as file:
            return file.read()[-characters:]


def start_workers(root, args, *, ports, tag, extra_args=None):
    """Starts one worker per port, all with `args`; logs and TMPDIRs go under `root`.

    `extra_args`, if given, maps a worker index to more arguments for that worker only.
    """
    extra_args = extra_args or {}
    return [
        Worker([*args, *extra_args.get(index, ())], tf_config_json=tf_config(ports, index),
               tmpdir=root / f"tmp-{tag}-{index}", log_path=root / f"{tag}-{index}.log")
        for index in range(len(ports))
    ]


def stop_all(workers):
    for worker in workers:
        worker.kill()
