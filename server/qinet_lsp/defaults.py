"""Where the shipped default model lives."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_CHECKPOINT_NAME = "qinet-default.pt"
ENV_CHECKPOINT = "QINET_CHECKPOINT"


def default_checkpoint_path() -> Path:
    """$QINET_CHECKPOINT if set, else checkpoints/qinet-default.pt of this source tree."""
    env = os.environ.get(ENV_CHECKPOINT)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "checkpoints" / DEFAULT_CHECKPOINT_NAME
