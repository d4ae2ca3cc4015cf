"""What the command line knows of text_generation without importing TensorFlow (the task itself: `task.py`)."""

from __future__ import annotations

import dataclasses

from apps.text_generation.config import TextGenerationConfig
from common.spec import AppSpec

SAMPLERS = next(f for f in dataclasses.fields(TextGenerationConfig) if f.name == "sampler").metadata["choices"]


def add_action_arguments(name: str, parser) -> None:
    """The options of `dlsuite text_generation generate`."""
    parser.add_argument("--prompt", default="", help="text to continue (default: none, start of a line)")
    parser.add_argument("--length", type=int, help="characters to write, tokens for a --preset run (default: "
                                                   "generate_length of the run)")
    parser.add_argument("--sampler", choices=SAMPLERS, help="greedy, random, top_k, top_p, or auto: from the "
                                                             "settings (default: the run's sampler)")
    parser.add_argument("--temperature", type=float, help="0 = greedy; < 1 safer, > 1 wilder (default: the run's)")
    parser.add_argument("--top-k", type=int, help="sample from the k likeliest characters (tokens) (0 = all)")
    parser.add_argument("--top-p", type=float, help="sample from the smallest set with this probability (1 = all)")
    parser.add_argument("--seed", type=int, help="seed of the sampling (default: the run's seed)")


SPEC = AppSpec(
    name="text_generation",
    description=("character-level language model: stacked GRU/LSTM or GPT-style decoder (KV-cached generation), "
                 "or a KerasHub CausalLM preset (--preset), vs a Witten-Bell n-gram; sampling with temperature, "
                 "top-k, top-p"),
    config_class=TextGenerationConfig,
    task="apps.text_generation.task:TextGeneration",
    models=("gru", "lstm", "gpt"),
    actions=(("generate", ("write text after a prompt with a trained run (--prompt, --length, --sampler, "
                           "--temperature, --top-k, --top-p, --seed)")),),
    add_action_arguments=add_action_arguments,
)
