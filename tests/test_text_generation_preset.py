"""text_generation --preset: a tiny GPT-2 `CausalLM` preset written here (offline) is fine-tuned on pydoc_topics,
scored in bits per character, sampled with KerasHub samplers, and exported as a preset that KerasHub alone loads
in a fresh process to the same logits and the same greedy text; bad preset specs are one-line errors."""

import json
import math
import subprocess
import sys

import keras
import numpy as np
import pytest

from apps.text_generation.generation import resolve_sampler
from apps.text_generation.preset import keras_hub_sampler, random_text_windows, token_windows
from common.errors import UsageError
from common.export import load_model
from conftest import read_json

MERGES = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a", "e r", "o n", "Ġ s", "r e", "Ġ o", "a t", "e n", "Ġ i", "Ġt h"]


def byte_symbols() -> list[str]:
    """GPT-2's printable stand-ins for the 256 bytes (`bytes_to_unicode`), in byte-value order of its table."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + i) for i in range(len(others))]


def save_tiny_gpt2_preset(path) -> str:
    """A 2-layer GPT-2 `CausalLM` (width 16) on a byte-level vocabulary with a few merges, saved with
    `save_to_preset`. Every byte has a token, so any text tokenizes; the end token comes last, as in GPT-2,
    because id 0 is the padding `generate` fills the prompt out with."""
    import keras_hub

    vocabulary = {symbol: i for i, symbol in enumerate(byte_symbols())}
    for merge in MERGES:
        vocabulary.setdefault(merge.replace(" ", ""), len(vocabulary))
    vocabulary["<|endoftext|>"] = len(vocabulary)
    tokenizer = keras_hub.models.GPT2Tokenizer(vocabulary=vocabulary, merges=MERGES)
    backbone = keras_hub.models.GPT2Backbone(vocabulary_size=len(vocabulary), num_layers=2, num_heads=2,
                                             hidden_dim=16, intermediate_dim=32, max_sequence_length=64)
    preprocessor = keras_hub.models.GPT2CausalLMPreprocessor(tokenizer, sequence_length=32)
    keras_hub.models.GPT2CausalLM(backbone, preprocessor).save_to_preset(str(path))
    return str(path)


def one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("dlsuite: error: "), err
    return lines[0]


def test_token_windows_score_every_token_once():
    x, y, mask = token_windows([5, 6, 7, 8, 9], 2, start_id=1)
    assert x.tolist() == [[1, 5], [1, 7], [1, 9]] and y.tolist() == [[5, 6], [7, 8], [9, 0]]
    assert mask.tolist() == [[True, True], [True, True], [True, False]]
    x, y, mask = token_windows([5, 6, 7, 8], 2, start_id=None)  # the first token is context only
    assert x.tolist() == [[5, 6], [7, 0]] and y.tolist() == [[6, 7], [8, 0]] and int(mask.sum()) == 3


def test_samplers_map_onto_keras_hub():
    import keras_hub

    cases = {("auto", 0.0, 5, 0.9): ("greedy", keras_hub.samplers.GreedySampler),
             ("auto", 0.8, 0, 0.95): ("top_p", keras_hub.samplers.TopPSampler),
             ("auto", 0.8, 5, 1.0): ("top_k", keras_hub.samplers.TopKSampler),
             ("auto", 0.8, 0, 1.0): ("random", keras_hub.samplers.RandomSampler),
             ("top_k", 0.7, 5, 0.9): ("top_k", keras_hub.samplers.TopKSampler),
             ("greedy", 0.7, 5, 0.9): ("greedy", keras_hub.samplers.GreedySampler)}
    for args, (name, cls) in cases.items():
        resolved = resolve_sampler(*args)
        assert resolved[0] == name
        sampler = keras_hub_sampler(*resolved, seed=1)
        assert isinstance(sampler, cls) and (name == "greedy" or sampler.temperature == args[1])
    top_p = keras_hub_sampler(*resolve_sampler("top_p", 0.8, 4, 0.9), seed=1)
    assert (top_p.p, top_p.k) == (0.9, 4)  # top-k first, then top-p, as the character models draw
    with pytest.raises(UsageError, match="sampler=top_k needs top_k >= 1"):
        resolve_sampler("top_k", 0.8, 0, 0.9)


def test_random_text_windows_cut_at_characters():
    text = "ab\u00e9c\u4e2dd" * 20  # 2- and 3-byte characters
    windows = [w.decode("utf-8") for w in random_text_windows(text, 7, 30, seed=0).as_numpy_iterator()]
    assert len(windows) == 30 and all(len(w) == 7 and w in text for w in windows)


@pytest.mark.slow
def test_a_gpt2_preset_fine_tunes_generates_and_exports(cli, tmp_path):
    preset = save_tiny_gpt2_preset(tmp_path / "gpt2")
    run = tmp_path / "run"
    code, out, err = cli("text_generation", "train", "--preset", preset, "--epochs", "1", "--quiet",
                         "--output-dir", run, "--batch-size", "16", "--set", "max_train_samples=32",
                         "--set", "sequence_length=32", "--set", "warmup_steps=0", "--set", "learning_rate=1e-2",
                         "--set", "examples=1", "--set", "generate_length=6", "--set", "ngram_max_order=2")
    assert code == 0, err
    metrics = read_json(run / "metrics.json")
    test = metrics["test"]
    # Bits per character: all nats of the test text's tokens over its characters, so next to the n-gram's.
    assert test["characters"] == metrics["data"]["characters"]["test"] and test["tokens"] > 0
    assert test["bits_per_character"] == pytest.approx(test["loss"] / math.log(2))
    assert test["loss"] == pytest.approx(test["token_loss"] * test["tokens"] / test["characters"])
    assert metrics["data"]["level"] == "token" and metrics["config"]["preset"] == preset
    assert "ngram" in metrics["baselines"]
    assert "**Example 1**" in (run / "examples" / "generations.md").read_text(encoding="utf-8")

    code, out, err = cli("text_generation", "evaluate", "--run", run)
    assert code == 0 and f"bits_per_character={test['bits_per_character']:.4f}" in out, err

    prompt, length = "The with statement", 8
    code, greedy, err = cli("text_generation", "generate", "--run", run, "--prompt", prompt, "--length", length,
                            "--sampler", "greedy")
    assert code == 0 and greedy.startswith(prompt) and len(greedy.rstrip("\n")) > len(prompt), err
    sampled = [cli("text_generation", "generate", "--run", run, "--prompt", prompt, "--length", length,
                   "--sampler", "top_k", "--top-k", "5", "--seed", "3")[1] for _ in range(2)]
    assert sampled[0] == sampled[1] and sampled[0].startswith(prompt)  # seeded: the same text again

    # The run's .keras file round-trips the task with its tokenizer: logits of the prompt, to compare below.
    model = load_model(str(run / "model.keras"))
    tokens = model.preprocessor.generate_preprocess([prompt], sequence_length=24)
    expected = keras.ops.convert_to_numpy(model(tokens))
    max_length = len(model.preprocessor.tokenizer(prompt)) + 1 + length  # the start token, the prompt, 8 more

    code, out, err = cli("text_generation", "export", "--run", run, "--format", "preset", "--path", tmp_path / "out")
    assert code == 0 and "KerasHub preset written" in out, err
    # A fresh process with KerasHub alone (no dlsuite) loads the folder: the same logits, the same greedy text.
    script = ("import json, sys, keras, keras_hub\n"
              "m = keras_hub.models.CausalLM.from_preset(sys.argv[1])\n"
              "x = m.preprocessor.generate_preprocess([sys.argv[2]], sequence_length=24)\n"
              "m.compile(sampler='greedy')\n"
              "print(json.dumps({'logits': keras.ops.convert_to_numpy(m(x)).tolist(),\n"
              "                  'text': m.generate(sys.argv[2], max_length=int(sys.argv[3]))}))")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "out"), prompt, str(max_length)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(np.array(found["logits"]), expected, atol=1e-5)
    assert found["text"] + "\n" == greedy  # `generate` prints the text and a newline


def test_bad_presets_give_one_line_and_exit_2(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    for preset, message in (("hf://keras-io/no_such_gpt2", "cannot reach huggingface.co"),
                            (tmp_path / "empty", "is not a KerasHub preset folder"),
                            (tmp_path / "missing", "neither a local folder nor a KerasHub preset name")):
        code, out, err = cli("text_generation", "train", "--preset", preset, "--quiet", "--output-dir",
                             tmp_path / "run")
        assert code == 2 and message in one_line(err), (preset, err)
        assert not (tmp_path / "run").exists()
