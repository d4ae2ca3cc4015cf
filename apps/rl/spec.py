"""What the command line knows of rl without importing TensorFlow (the task itself: `task.py`)."""

from __future__ import annotations

import argparse

from apps.rl.config import RLConfig
from common.spec import AppSpec


def add_action_arguments(name: str, parser) -> None:
    """The options of `dlsuite rl play`."""
    parser.add_argument("--human-first", action=argparse.BooleanOptionalAction, default=True,
                        help="the person moves first (default); --no-human-first lets the agent start")


SPEC = AppSpec(
    name="rl",
    description="Reinforcement learning: DQN, PPO, SAC on gymnasium; AlphaZero self-play on open_spiel games",
    config_class=RLConfig,
    task="apps.rl.task:RL",
    models=("dqn", "ppo", "sac", "alphazero"),
    actions=(("play", "play a trained alphazero agent in the terminal"),),
    add_action_arguments=add_action_arguments,
)
