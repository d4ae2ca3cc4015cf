"""Loops of their own (`trains_with_fit = False`): a run killed mid-way and rerun ends as an uninterrupted one.

Each case trains a tiny config twice with `deterministic=true`: once straight through, once killed (a
KeyboardInterrupt raised from inside the loop after at least one checkpoint, mid-episode or mid-rollout) and
rerun with the same command; the test metrics and every logged TensorBoard point must be the same."""

from __future__ import annotations

import glob
import os

import numpy as np
import pytest

DQN = ["total_steps=400", "learning_starts=100", "train_every=50", "gradient_steps=8", "hidden=16",
       "eval_episodes=3", "checkpoint_every=100", "select_every=150", "select_episodes=2"]
PPO = ["agent=ppo", "n_envs=2", "n_steps=16", "total_steps=256", "batch_size=16", "ppo_epochs=2", "hidden=16",
       "eval_episodes=3", "checkpoint_every=64"]
SAC = ["agent=sac", "total_steps=300", "learning_starts=100", "train_every=20", "gradient_steps=20", "batch_size=16",
       "hidden=16", "eval_episodes=2", "checkpoint_every=100"]
STYLE = ["epochs=2", "batch_size=2", "steps_per_epoch=2", "steps=4", "image_size=48", "train_size=32", "width=4",
         "residual_blocks=1", "extractor_widths=[8,8,8]", "log_every=2", "test_images=[chelsea]"]


def _config(sets, app="rl"):
    from dlsuite.registry import get_app
    from common.config import resolve_config

    task = get_app(app)
    return task, resolve_config(task.config_class, app, sets=[*sets, "deterministic=true"])


def logged_points(log_dir) -> list[tuple]:
    """(folder, tag, step, value) of everything in a run's event files, as TensorBoard shows it: each folder's
    series by tag and step (a point logged twice shows up twice). Scalars as numbers, images as their bytes."""
    import tensorflow as tf
    from tensorboard.compat.proto import event_pb2

    points = []
    for path in glob.glob(os.path.join(str(log_dir), "**", "events.out.tfevents.*"), recursive=True):
        folder = os.path.relpath(os.path.dirname(path), str(log_dir))
        for record in tf.data.TFRecordDataset(path):
            event = event_pb2.Event.FromString(record.numpy())
            for v in event.summary.value:
                value = tf.make_ndarray(v.tensor)
                points.append((folder, v.tag, event.step,
                               float(value) if value.dtype.kind == "f" else v.tensor.SerializeToString()))
    return sorted(points, key=lambda p: p[:3])


def _die_after(monkeypatch, owner, name, calls: int):
    """`owner.name` raises KeyboardInterrupt once it has been called `calls` times (a kill at that point)."""
    real, count = getattr(owner, name), [0]

    def dying(*args, **kwargs):
        count[0] += 1
        if count[0] > calls:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, dying)


def _uninterrupted_and_resumed(tmp_path, monkeypatch, sets, owner, name, calls, app="rl", state="state.npz"):
    from common.training import train

    task, cfg = _config(sets, app)
    straight = train(task, cfg, str(tmp_path / "straight"), verbose=0)
    resumed_dir = str(tmp_path / "resumed")
    with monkeypatch.context() as patch:
        _die_after(patch, owner, name, calls)
        with pytest.raises(KeyboardInterrupt):
            train(task, cfg, resumed_dir, verbose=0)
    assert os.path.isfile(os.path.join(resumed_dir, "checkpoints", state))  # killed after a checkpoint
    assert not os.path.exists(os.path.join(resumed_dir, "metrics.json"))
    resumed = train(task, _config(sets, app)[1], resumed_dir, verbose=0)  # the same command again
    return straight, resumed, logged_points(tmp_path / "straight" / "logs"), logged_points(f"{resumed_dir}/logs")


def test_a_killed_dqn_run_ends_as_an_uninterrupted_one(tmp_path, monkeypatch):
    from apps.rl.replay import ReplayBuffer

    # killed at step 250, mid-episode, after checkpoints at the first episode ends past steps 100 and 200
    straight, resumed, logs_a, logs_b = _uninterrupted_and_resumed(tmp_path, monkeypatch, DQN, ReplayBuffer, "add",
                                                                   250)
    assert resumed["test"] == straight["test"]
    assert resumed["epochs"] == straight["epochs"]
    returns = [p for p in logs_a if p[1] == "episode_return"]
    assert len(returns) == straight["epochs"] and [p for p in logs_b if p[1] == "episode_return"] == returns
    assert logs_b == logs_a  # loss, epsilon and greedy_return too, each point once


def test_a_killed_ppo_run_ends_as_an_uninterrupted_one(tmp_path, monkeypatch):
    from apps.rl.ppo import PPOAgent

    # 8 rollouts of 2 x 16 steps, a checkpoint after every second one: killed in the middle of the fourth
    straight, resumed, logs_a, logs_b = _uninterrupted_and_resumed(tmp_path, monkeypatch, PPO, PPOAgent, "act", 56)
    assert resumed["test"] == straight["test"]
    assert [p for p in logs_b if p[1] == "episode_return"] == [p for p in logs_a if p[1] == "episode_return"]
    assert logs_b == logs_a


def test_a_killed_sac_run_ends_as_an_uninterrupted_one(tmp_path, monkeypatch):
    from apps.rl.replay import ReplayBuffer

    # Pendulum episodes are 200 steps: killed at step 250, after the checkpoint at the first episode end
    straight, resumed, logs_a, logs_b = _uninterrupted_and_resumed(tmp_path, monkeypatch, SAC, ReplayBuffer, "add",
                                                                   250)
    assert resumed["test"] == straight["test"]
    assert {"episode_return", "critic_loss"} <= {p[1] for p in logs_a} and logs_b == logs_a


def test_a_killed_style_transfer_run_ends_as_an_uninterrupted_one(tmp_path, monkeypatch):
    from apps.style_transfer.stylize import FastTrainer

    # the optimisation done, the fast network killed in its second epoch (after 3 of its 4 steps)
    straight, resumed, logs_a, logs_b = _uninterrupted_and_resumed(tmp_path, monkeypatch, STYLE, FastTrainer,
                                                                   "train_step", 3, "style_transfer",
                                                                   "fast_state.json")

    def untimed(test):
        return {k: v for k, v in test.items() if "seconds" not in k}

    assert untimed(resumed["test"]) == untimed(straight["test"])
    assert {p[0] for p in logs_a} == {"optimize", "train", "test"}
    assert logs_b == logs_a  # the second epoch's first step once, the comparison image once


def test_a_truncated_state_file_is_a_one_line_error(cli, tmp_path, monkeypatch):
    from apps.rl.replay import ReplayBuffer
    from common.training import train

    task, cfg = _config(DQN)
    run = tmp_path / "run"
    with monkeypatch.context() as patch:
        _die_after(patch, ReplayBuffer, "add", 150)
        with pytest.raises(KeyboardInterrupt):
            train(task, cfg, str(run), verbose=0)
    state = run / "checkpoints" / "state.npz"
    data = state.read_bytes()
    state.write_bytes(data[: len(data) // 2])
    args = [a for s in [*DQN, "deterministic=true"] for a in ("--set", s)]
    code, out, err = cli("rl", "train", "--output-dir", run, "--quiet", *args)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and str(state) in err and "--overwrite" in err, err
    assert "Traceback" not in err

    state.write_bytes(np.zeros(64, np.uint8).tobytes())  # not a zip at all
    code, out, err = cli("rl", "train", "--output-dir", run, "--quiet", *args)
    assert code == 2 and "truncated or corrupt" in err

    np.savez(state, meta=np.frombuffer(b'{"step": 100}', np.uint8))  # a state without the format of exact resumes
    code, out, err = cli("rl", "train", "--output-dir", run, "--quiet", *args)
    assert code == 2 and "older version" in err and "--overwrite" in err
