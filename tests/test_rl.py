"""The RL application: replay buffer, DQN targets, agents' act/update, MCTS, resume, CLI and bad inputs."""

from __future__ import annotations

import glob
import io
import os
import re

import numpy as np
import pytest

from conftest import read_json

DQN_TINY = ["--set", "total_steps=300", "--set", "learning_starts=100", "--set", "train_every=50",
            "--set", "gradient_steps=4", "--set", "hidden=16", "--set", "eval_episodes=2",
            "--set", "checkpoint_every=100"]
AZ_TINY = ["--set", "agent=alphazero", "--dataset", "tic_tac_toe", "--set", "total_steps=4", "--set",
           "games_per_iteration=2", "--set", "simulations=4", "--set", "train_steps_per_iteration=2",
           "--set", "hidden=16", "--set", "eval_episodes=2", "--set", "mcts_bot_simulations=4", "--set", "batch_size=8"]


# --- replay buffer ----------------------------------------------------------------------------------

def test_replay_buffer_overwrites_the_oldest_and_samples_stored_transitions():
    from apps.rl.replay import ReplayBuffer

    buffer = ReplayBuffer(5, (2,), seed=0)
    with pytest.raises(ValueError, match="empty"):
        buffer.sample(1)
    for i in range(7):
        buffer.add([i, i], i % 2, float(i), [i + 1, i + 1], i == 6)
    assert len(buffer) == 5 and buffer.position == 2
    assert sorted(buffer.rewards.tolist()) == [2.0, 3.0, 4.0, 5.0, 6.0]  # 0 and 1 were overwritten
    batch = buffer.sample(32)
    assert batch["obs"].shape == (32, 2) and batch["actions"].shape == (32,) and batch["terminated"].shape == (32,)
    assert set(batch["rewards"].tolist()) <= {2.0, 3.0, 4.0, 5.0, 6.0}
    np.testing.assert_array_equal(batch["next_obs"], batch["obs"] + 1)  # transitions stay whole
    np.testing.assert_array_equal(batch["terminated"], (batch["rewards"] == 6.0).astype(np.float32))

    arrays, meta = buffer.state()
    copy = ReplayBuffer(5, (2,), seed=99)
    copy.restore(arrays, meta)
    assert len(copy) == 5 and copy.position == 2
    np.testing.assert_array_equal(copy.sample(8)["obs"], buffer.sample(8)["obs"])  # same generator state too


# --- DQN --------------------------------------------------------------------------------------------

def test_dqn_targets_on_a_known_batch():
    from apps.rl.dqn import dqn_targets

    rewards, terminated = [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]
    online = [[1.0, 2.0], [3.0, 0.0], [0.0, 5.0]]
    target = [[10.0, 20.0], [30.0, 40.0], [7.0, 1.0]]
    # double Q: the online network picks [1, 0, 1], the target network values them: [20, 30, 1]
    np.testing.assert_allclose(dqn_targets(rewards, terminated, online, target, 0.5, double_q=True), [11.0, 1.0, 0.5])
    # plain DQN: max of the target network [20, 40, 7]; a terminated transition never bootstraps
    np.testing.assert_allclose(dqn_targets(rewards, terminated, online, target, 0.5, double_q=False), [11.0, 1.0, 3.5])


def test_epsilon_schedule():
    from apps.rl.dqn import linear_epsilon

    assert linear_epsilon(0, 1.0, 0.1, 100) == 1.0
    assert linear_epsilon(50, 1.0, 0.1, 100) == pytest.approx(0.55)
    assert linear_epsilon(1000, 1.0, 0.1, 100) == pytest.approx(0.1)


def test_dqn_agent_acts_and_its_update_lowers_the_loss():
    from apps.rl.dqn import DQNAgent

    agent = DQNAgent(4, 3, hidden=16, learning_rate=1e-2, seed=0)
    obs = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    greedy = agent.act(obs, epsilon=0.0)
    assert greedy.shape == (64,) and set(greedy.tolist()) <= {0, 1, 2}
    np.testing.assert_array_equal(greedy, np.argmax(agent.q_network(obs).numpy(), axis=1))
    assert len(set(agent.act(obs, epsilon=1.0).tolist())) == 3  # ε = 1: uniformly random
    batch = {"obs": obs, "actions": greedy, "rewards": np.ones(64, np.float32), "next_obs": obs,
             "terminated": np.ones(64, np.float32)}
    losses = [agent.update(batch) for _ in range(30)]
    assert losses[-1] < losses[0] * 0.5
    before = agent.target_network.get_weights()[0].copy()
    agent.sync_target()
    assert not np.allclose(before, agent.target_network.get_weights()[0])
    np.testing.assert_array_equal(agent.target_network.get_weights()[0], agent.q_network.get_weights()[0])


def test_a_burst_of_updates_is_the_same_steps_and_acting_reads_numpy_weights():
    from apps.rl.dqn import DQNAgent
    from apps.rl.replay import ReplayBuffer

    buffer = ReplayBuffer(100, (4,), seed=0)
    rng = np.random.default_rng(0)
    for i in range(100):
        buffer.add(rng.normal(size=4), i % 2, 1.0, rng.normal(size=4), i % 7 == 0)
    batches = buffer.sample_many(3, 16)
    assert batches["obs"].shape == (3, 16, 4) and batches["actions"].shape == (3, 16)
    one, burst = DQNAgent(4, 2, hidden=16, seed=0), DQNAgent(4, 2, hidden=16, seed=0)
    burst.q_network.set_weights(one.q_network.get_weights())
    burst.target_network.set_weights(one.target_network.get_weights())
    burst.refresh_policy()
    losses = [one.update({k: v[i] for k, v in batches.items()}) for i in range(3)]
    np.testing.assert_allclose(burst.update_burst(batches), losses, rtol=1e-5)
    for a, b in zip(one.q_network.get_weights(), burst.q_network.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    obs = rng.normal(size=(8, 4)).astype(np.float32)  # the NumPy copy acts as the network after the updates
    np.testing.assert_allclose(burst.policy(obs)[0], burst.q_network(obs).numpy(), rtol=1e-5, atol=1e-5)


def test_dqn_end_to_end_from_the_cli(cli, tmp_path):
    run = tmp_path / "dqn"
    code, out, err = cli("rl", "train", "--output-dir", run, "--quiet", *DQN_TINY)
    assert code == 0, err
    metrics = read_json(run / "metrics.json")
    assert metrics["test"]["episodes"] == 2 and metrics["baselines"]["random_policy"]["mean_return"] > 0
    assert metrics["config"]["agent"] == "dqn" and metrics["dataset"] == "CartPole-v1"
    assert (run / "model.keras").is_file() and (run / "checkpoints" / "state.npz").is_file()
    assert _scalar_tags(run / "logs") >= {"episode_return", "loss", "epsilon"}

    code, out, err = cli("rl", "evaluate", "--run", run)
    assert code == 0 and "mean_return" in out
    code, out, err = cli("rl", "predict", "--run", run, "0.01,0.2,-0.03,-0.3")
    assert code == 0 and '"action"' in out
    code, out, err = cli("rl", "predict", "--run", run, "1,2")
    assert code == 2 and "4 numbers" in err
    code, out, err = cli("rl", "play", "--run", run)
    assert code == 2 and "alphazero" in err


def test_dqn_resumes_after_an_interruption(tmp_path, monkeypatch, capsys):
    from dlsuite.registry import get_app
    from apps.rl import dqn
    from common.config import resolve_config
    from common.training import train

    task = get_app("rl")
    sets = [s for s in DQN_TINY if s != "--set"]
    cfg = resolve_config(task.config_class, "rl", sets=sets)
    saves = []
    real_save = dqn.save_state

    def save_then_die(path, *args):
        real_save(path, *args)
        saves.append(path)
        if len(saves) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(dqn, "save_state", save_then_die)
    out = str(tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):
        train(task, cfg, out, verbose=1)
    assert not os.path.exists(os.path.join(out, "metrics.json"))
    monkeypatch.setattr(dqn, "save_state", real_save)
    train(task, cfg, out, verbose=1)
    resumed = re.search(r"resuming at step (\d+)", capsys.readouterr().out)
    assert resumed and int(resumed[1]) >= 200  # the second checkpoint: the first episode end after step 200
    with np.load(os.path.join(out, "checkpoints", "state.npz")) as state:
        assert state["arr/buffer/obs"].shape == (300, 4)  # the replay buffer came back with the rest


def test_bad_environment_names_and_mismatched_agents(cli, tmp_path):
    code, _, err = cli("rl", "train", "--output-dir", tmp_path / "a", "--dataset", "CartPol-v1")
    assert code == 2 and "unknown gymnasium environment 'CartPol-v1'" in err and "CartPole-v1" in err
    code, _, err = cli("rl", "train", "--output-dir", tmp_path / "b", "--set", "agent=alphazero",
                       "--dataset", "tictactoe")
    assert code == 2 and "unknown open_spiel game 'tictactoe'" in err
    code, _, err = cli("rl", "train", "--output-dir", tmp_path / "c", "--dataset", "Pendulum-v1")
    assert code == 2 and "discrete actions" in err
    code, _, err = cli("rl", "train", "--output-dir", tmp_path / "d", "--set", "agent=alphazero",
                       "--dataset", "kuhn_poker")
    assert code == 2 and "perfect-information" in err
    assert not any((tmp_path / name).exists() for name in "abcd")


# --- PPO and SAC -----------------------------------------------------------------------------------

def test_gae_on_a_known_rollout():
    from apps.rl.ppo import gae

    # one environment, three steps; the episode ends after step 1, V(s) = 0 everywhere, V(last) = 10
    advantages, returns = gae([[1.0], [1.0], [1.0]], [[0.0], [0.0], [0.0]], [[0.0], [1.0], [0.0]], [10.0],
                              gamma=0.5, lam=1.0)
    np.testing.assert_allclose(advantages[:, 0], [1.5, 1.0, 6.0])
    np.testing.assert_allclose(returns, advantages)


def test_ppo_agent_samples_valid_actions_and_learns_a_preferred_action():
    from apps.rl.ppo import PPOAgent

    agent = PPOAgent(3, 2, hidden=16, learning_rate=1e-2, seed=0)
    obs = np.random.default_rng(0).normal(size=(128, 3)).astype(np.float32)
    actions, log_probs, values = agent.act(obs)
    assert actions.shape == log_probs.shape == values.shape == (128,) and set(actions.tolist()) <= {0, 1}
    assert np.all(log_probs <= 0)
    advantages = np.where(actions == 1, 1.0, -1.0).astype(np.float32)  # action 1 is the better one
    batch = {"obs": obs, "actions": actions, "log_probs": log_probs, "advantages": advantages,
             "returns": np.zeros(128, np.float32)}
    for _ in range(10):
        agent.update(batch, clip_range=0.2)
    assert np.mean(agent.act(obs)[0]) > np.mean(actions)


def test_sac_agent_acts_within_bounds_and_updates():
    from apps.rl.sac import SACAgent

    agent = SACAgent(3, 1, action_scale=2.0, hidden=16, seed=0)
    obs = np.random.default_rng(0).normal(size=(32, 3)).astype(np.float32)
    for deterministic in (False, True):
        actions = agent.act(obs, deterministic)
        assert actions.shape == (32, 1) and np.all(np.abs(actions) <= 2.0)
    np.testing.assert_allclose(agent.served_model()(obs).numpy(), agent.act(obs, True), rtol=1e-5, atol=1e-6)
    before = agent.targets[0].get_weights()[0].copy()
    batch = {"obs": obs, "actions": agent.act(obs), "rewards": np.ones(32, np.float32), "next_obs": obs,
             "terminated": np.zeros(32, np.float32)}
    critic_loss, actor_loss, alpha = agent.update(batch)
    assert np.isfinite([critic_loss, actor_loss, alpha]).all() and float(agent.log_alpha) != 0.0  # α was updated
    assert not np.allclose(before, agent.targets[0].get_weights()[0])  # the target critics follow slowly
    losses = agent.update_burst({k: np.stack([v, v]) for k, v in batch.items()})  # two steps, one call
    assert losses.shape == (2, 3) and np.isfinite(losses).all()
    np.testing.assert_allclose(agent.act(obs, True), agent.served_model()(obs).numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("agent,env,sets", [
    ("ppo", "CartPole-v1", ["n_envs=2", "n_steps=16", "total_steps=64", "batch_size=16", "ppo_epochs=2"]),
    ("sac", "Pendulum-v1", ["total_steps=210", "learning_starts=150", "batch_size=16", "checkpoint_every=100"]),
])
def test_ppo_and_sac_train_from_the_cli(cli, tmp_path, agent, env, sets):
    run = tmp_path / agent
    args = [a for s in [f"agent={agent}", "hidden=16", "eval_episodes=1", *sets] for a in ("--set", s)]
    code, out, err = cli("rl", "train", "--output-dir", run, "--quiet", "--dataset", env, *args)
    assert code == 0, err
    metrics = read_json(run / "metrics.json")
    assert metrics["test"]["episodes"] == 1 and "random_policy" in metrics["baselines"]
    assert _scalar_tags(run / "logs") >= {"episode_return", "loss"}
    code, out, err = cli("rl", "predict", "--run", run, ",".join(["0.1"] * (4 if env == "CartPole-v1" else 3)))
    assert code == 0 and '"action"' in out


# --- AlphaZero --------------------------------------------------------------------------------------

def _state(moves):
    import pyspiel

    state = pyspiel.load_game("tic_tac_toe").new_initial_state()
    for move in moves:
        state.apply_action(move)
    return state


def uniform_evaluator(state):
    legal = state.legal_actions()
    return {a: 1.0 / len(legal) for a in legal}, 0.0


def test_mcts_finds_the_forced_win():
    from apps.rl.alphazero import MCTS

    # x: 0, 1; o: 3, 4; x to move wins with 2 (o would win with 5 otherwise)
    win_now = _state([0, 3, 1, 4])
    assert MCTS(uniform_evaluator, simulations=100).best_action(win_now) == 2
    # x: 0, 8; o: 4, 2; x to move: 6 blocks o's 2-4-6 and threatens both 0-3-6 and 6-7-8, a forced win
    fork = _state([0, 4, 8, 2])
    visits = MCTS(uniform_evaluator, simulations=2000).search(fork)
    assert max(visits, key=visits.get) == 6


def test_minimax_is_perfect_and_mcts_with_a_network_plays_legal_moves():
    import keras

    from apps.rl.alphazero import MCTS, MinimaxPlayer, NetworkEvaluator, RandomPlayer, build_network, encode, \
        play_match
    from apps.rl.envs import load_game

    game = load_game("tic_tac_toe")
    minimax = MinimaxPlayer(0)
    assert minimax.value(game.new_initial_state()) == 0  # tic-tac-toe is a draw
    assert minimax(_state([0, 3, 1, 4])) == 2
    result = play_match(game, minimax, RandomPlayer(0), 6)
    assert result["losses"] == 0 and result["games"] == 6

    keras.utils.set_random_seed(0)
    model = build_network(game, hidden=16)
    assert encode(game.new_initial_state()).shape == (4, 3, 3)
    state = _state([0, 3])
    action = MCTS(NetworkEvaluator(model), simulations=8).best_action(state)
    assert action in state.legal_actions()


def test_searches_run_side_by_side_share_network_calls_and_give_the_same_visits():
    import keras

    from apps.rl.alphazero import MCTS, NetworkEvaluator, build_network, run_searches, self_play_games
    from apps.rl.envs import load_game

    keras.utils.set_random_seed(0)
    game = load_game("tic_tac_toe")
    evaluator = NetworkEvaluator(build_network(game, hidden=16))
    calls, forward = [], evaluator._forward
    evaluator._forward = lambda x: calls.append(len(x)) or forward(x)
    states = [_state(moves) for moves in ([], [4], [0, 3])]
    mcts = MCTS(evaluator, simulations=12)
    together = run_searches([mcts.search_steps(s) for s in states], evaluator)
    assert max(calls) > 1 and len(calls) <= 12 + 1  # a call per round for all three searches
    evaluator.clear()
    assert together == [mcts.search(s) for s in states]
    games = self_play_games(game, MCTS(evaluator, 4, dirichlet_alpha=0.5), 3, 2, np.random.default_rng(0))
    assert len(games) == 3 and all(len(g[0]) == len(g[1]) == len(g[2]) >= 5 for g in games)


@pytest.mark.parametrize("name", ["connect_four", "chess", "go"])
def test_other_open_spiel_games_are_accepted_by_name(name):
    import keras

    from apps.rl.alphazero import MCTS, NetworkEvaluator, build_network, encode
    from apps.rl.envs import load_game

    keras.utils.set_random_seed(0)
    game = load_game(name)
    model = build_network(game, hidden=16)
    state = game.new_initial_state()
    logits, value = model(encode(state)[None])
    assert logits.shape == (1, game.num_distinct_actions()) and -1 <= float(value[0, 0]) <= 1
    assert MCTS(NetworkEvaluator(model), simulations=3).best_action(state) in state.legal_actions()


def test_alphazero_update_lowers_the_loss():
    from apps.rl.alphazero import AlphaZeroAgent, MCTS, self_play_game
    from apps.rl.envs import load_game

    game = load_game("tic_tac_toe")
    agent = AlphaZeroAgent(game, hidden=16, learning_rate=1e-2)
    states, policies, outcomes = self_play_game(game, MCTS(agent.evaluator, 4, dirichlet_alpha=0.5), 2,
                                                np.random.default_rng(0))
    assert len(states) == len(policies) == len(outcomes) >= 5
    np.testing.assert_allclose([p.sum() for p in policies], 1.0, rtol=1e-5)
    losses = [agent.update(np.stack(states), np.stack(policies), np.asarray(outcomes, np.float32))[0]
              for _ in range(30)]
    assert losses[-1] < losses[0]


def test_alphazero_trains_from_the_cli_and_plays_a_person(cli, tmp_path, monkeypatch):
    run = tmp_path / "az"
    code, out, err = cli("rl", "train", "--output-dir", run, "--quiet", *AZ_TINY)
    assert code == 0, err
    metrics = read_json(run / "metrics.json")
    assert {"win_rate_vs_random", "win_rate_vs_mcts", "losses_vs_minimax"} <= set(metrics["test"])
    assert {"random_player", "mcts_bot_4"} <= set(metrics["baselines"])
    assert metrics["speed"]["simulations_per_second"] > 0 and metrics["speed"]["games_per_minute"] > 0
    assert _scalar_tags(run / "logs") >= {"episode_return", "loss"}

    # the person plays x; moves that are no cell (9, banana) or a taken cell are refused and asked again
    moves = iter(["9", "x(0,0)", "banana"] + [str(a) for a in range(9)] * 2)
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(moves) + "\n"))
    code, out, err = cli("rl", "play", "--run", run)
    assert code == 0, err
    assert "illegal move '9'" in out and "illegal move 'banana'" in out
    assert any(result in out for result in ("you win", "draw", "the agent wins"))

    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, out, err = cli("rl", "play", "--run", run)
    assert code == 2 and "input ended" in err


def _scalar_tags(logdir) -> set[str]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = set()
    for path in glob.glob(os.path.join(str(logdir), "events.out.tfevents.*")):
        acc = EventAccumulator(path)
        acc.Reload()
        tags |= set(acc.Tags().get("tensors", [])) | set(acc.Tags().get("scalars", []))
    return tags
