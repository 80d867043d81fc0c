"""Where the shared, read-only benchmark datasets live."""

import os
import pathlib

DATASETS_ENV_VAR = "NLPKIT_DATASETS"


def shared_datasets_dir():
    """The shared datasets folder, or None when it is absent.

    `$NLPKIT_DATASETS` when set, else `../shared/datasets` beside the repository root. The data
    there must never be copied into the repository; tests that need it skip when this is None.

    Returns:
        A `pathlib.Path` to an existing folder, or None.
    """
    configured = os.environ.get(DATASETS_ENV_VAR)
    if configured:
        candidate = pathlib.Path(configured)
    else:
        repo_root = pathlib.Path(__file__).resolve().parents[2]
        candidate = repo_root.parent / "shared" / "datasets"
    return candidate if candidate.is_dir() else None
