#!/usr/bin/env python
"""Peers of the suite, measured in the benchmark's own run (`scripts/benchmark.py --peers`).

Each peer is what a user would run instead of a suite row, with the settings its authors publish:

* `mnist_convnet`: keras-io's "Simple MNIST convnet" (two conv/pool blocks, dropout, softmax; Adam, batch
  128, 15 epochs), trained on the same mnist5k train split and scored on the same test split as the
  suite's `image_classification-mnist5k` row;
* `sb3-dqn`, `sb3-ppo`: Stable-Baselines3's DQN and PPO on CartPole-v1 with the rl-zoo's tuned
  hyperparameters (`hyperparams/dqn.yml`, `ppo.yml`), next to the rows `rl-CartPole-v1` (DQN) and
  `rl-ppo-CartPole-v1`. SB3 needs PyTorch (several GB, not a dependency of the suite): it runs in
  this interpreter when `stable_baselines3` imports, else in `--peer-python`, else the row says it was
  skipped.

Times are training wall times (the suite's `train_seconds`, the peer's `fit` / `learn` call); the ratio
is suite / peer, so below 1 means the suite is faster. Run as `python scripts/peers.py sb3 dqn|ppo SEED`,
this file trains one SB3 peer and prints its result as JSON (what the benchmark calls in a subprocess).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

# name: (suite row it stands beside, metric, description, target ratio suite/peer or None)
PEERS = {
    "mnist_convnet": ("image_classification-mnist5k", "accuracy",
                      "keras-io mnist_convnet (Adam, batch 128, 15 epochs) on the same mnist5k split", None),
    "sb3-dqn": ("rl-CartPole-v1", "mean_return",
                "Stable-Baselines3 DQN, rl-zoo CartPole-v1 settings, 50,000 steps", 1.0),
    "sb3-ppo": ("rl-ppo-CartPole-v1", "mean_return",
                "Stable-Baselines3 PPO, rl-zoo CartPole-v1 settings (8 envs), 100,000 steps", 0.8),
}

# rl-baselines3-zoo, hyperparams/dqn.yml and ppo.yml, CartPole-v1
SB3_DQN = dict(learning_rate=2.3e-3, batch_size=64, buffer_size=100_000, learning_starts=1000, gamma=0.99,
               target_update_interval=10, train_freq=256, gradient_steps=128, exploration_fraction=0.16,
               exploration_final_eps=0.04, policy_kwargs=dict(net_arch=[256, 256]))
SB3_DQN_STEPS = 50_000
SB3_PPO_STEPS, SB3_PPO_ENVS = 100_000, 8
EVAL_EPISODES = 20


def mnist_convnet(data_dir: str | None, seed: int = 0) -> dict:
    """keras-io's mnist_convnet on the suite's mnist5k train/validation/test splits."""
    import keras
    import numpy as np

    from common.datasets import load_images, to_numpy

    keras.utils.set_random_seed(seed)
    data = load_images("mnist5k", data_dir, seed=seed)

    def arrays(ds):
        images, labels = to_numpy(ds)
        return images.astype("float32") / 255.0, labels  # as keras-io scales its uint8 images

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = map(arrays, (data.train, data.validation, data.test))
    layers = keras.layers
    model = keras.Sequential([
        keras.Input(shape=x_train.shape[1:]),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(data.num_classes, activation="softmax"),
    ])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=128, epochs=15, validation_data=(x_val, y_val), verbose=0)
    seconds = time.perf_counter() - start
    accuracy = float(model.evaluate(x_test, y_test, verbose=0)[1])
    return {"metric": accuracy, "train_seconds": round(seconds, 1), "examples": len(y_test)}


def sb3(agent: str, seed: int = 0) -> dict:
    """One SB3 agent trained on CartPole-v1 with the rl-zoo settings; greedy mean return over 20 episodes."""
    import gymnasium as gym
    import numpy as np
    import torch
    from stable_baselines3 import DQN, PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    # One thread: on the shared 2-core machine (load 5-7) SB3's DQN on two threads had not finished after 11
    # minutes (PyTorch's OpenMP pool spinning against the other jobs); on one it took 68.6 s (2026-12-02).
    torch.set_num_threads(1)
    if agent == "dqn":
        model = DQN("MlpPolicy", gym.make("CartPole-v1"), seed=seed, verbose=0, **SB3_DQN)
        steps = SB3_DQN_STEPS
    else:
        env = make_vec_env("CartPole-v1", n_envs=SB3_PPO_ENVS, seed=seed)
        linear = lambda start: (lambda progress: progress * start)  # noqa: E731 - the zoo's lin_X schedules
        model = PPO("MlpPolicy", env, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20,
                    ent_coef=0.0, learning_rate=linear(1e-3), clip_range=linear(0.2), seed=seed, verbose=0)
        steps = SB3_PPO_STEPS
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    seconds = time.perf_counter() - start
    returns, _ = evaluate_policy(model, gym.make("CartPole-v1"), n_eval_episodes=EVAL_EPISODES, deterministic=True,
                                 return_episode_rewards=True)
    return {"metric": float(np.mean(returns)), "train_seconds": round(seconds, 1), "env_steps": steps,
            "steps_per_second": round(steps / seconds, 1)}


def _sb3_python(peer_python: str | None) -> str | None:
    """An interpreter that imports stable_baselines3: this one, else `peer_python` if it does."""
    for python in (sys.executable, peer_python):
        if python and subprocess.run([python, "-c", "import stable_baselines3"], capture_output=True).returncode == 0:
            return python
    return None


def run_peer(name: str, suite_rows: dict, *, data_dir: str | None, peer_python: str | None, log) -> dict:
    """A peer's row: its metric and time beside the suite row's (`suite_rows`: row name -> benchmark row)."""
    row_name, metric, description, target = PEERS[name]
    result = {"name": name, "description": description, "suite_row": row_name, "metric": metric}
    suite = suite_rows.get(row_name)
    if suite is None or "metrics" not in suite:
        return {**result, "skipped": f"the suite row {row_name} did not run"}
    result["suite"] = {"metric": suite["metrics"]["test"].get(metric), "train_seconds": suite["metrics"]["train_seconds"]}
    log(f"peer {name}: {description}")
    if name == "mnist_convnet":
        peer = mnist_convnet(data_dir)
    else:
        python = _sb3_python(peer_python)
        if python is None:
            return {**result, "skipped": "stable_baselines3 is not importable (pip install stable-baselines3, or "
                                         "--peer-python an interpreter that has it)"}
        done = subprocess.run([python, os.path.abspath(__file__), "sb3", name.split("-")[1], "0"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            return {**result, "error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
        peer = json.loads(done.stdout.strip().splitlines()[-1])
    result["peer"] = peer
    result["ratio"] = round(result["suite"]["train_seconds"] / peer["train_seconds"], 3)
    if target is not None:
        result["target"] = {"text": f"{row_name} train time <= {target:g} x {name}'s", "met": result["ratio"] <= target,
                            "detail": f"ratio {result['ratio']:.2f}"}
    log(f"peer {name} done: {metric} {peer['metric']:.4f} in {peer['train_seconds']} s (suite: "
        f"{result['suite']['metric']} in {result['suite']['train_seconds']:.1f} s)")
    return result


def render(peers: list[dict]) -> list[str]:
    """The report's peer table (markdown lines)."""
    lines = ["", "## Peers (same run)", "",
             "| peer | beside row | metric | suite | peer | suite train s | peer train s | ratio suite/peer | target |",
             "|---|---|---|---|---|---|---|---|---|"]
    for p in peers:
        if "peer" not in p:
            why = p.get("skipped") or f"FAILED: {p.get('error')}"
            lines.append(f"| {p['description']} | {p['suite_row']} | {p['metric']} | | | | | | {why} |")
            continue
        target = p.get("target")
        verdict = f"{'**met**' if target['met'] else '**not met**'}: {target['text']}" if target else "-"
        lines.append(f"| {p['description']} | {p['suite_row']} | {p['metric']} | {p['suite']['metric']:.4g} | "
                     f"{p['peer']['metric']:.4g} | {p['suite']['train_seconds']:.1f} | {p['peer']['train_seconds']:.1f} | "
                     f"{p['ratio']:.2f} | {verdict} |")
    return lines


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "sb3" and sys.argv[2] in ("dqn", "ppo"):
        print(json.dumps(sb3(sys.argv[2], int(sys.argv[3]))))
    else:
        print("usage: peers.py sb3 dqn|ppo SEED", file=sys.stderr)
        sys.exit(2)
