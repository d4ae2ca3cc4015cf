"""Environments by name: gymnasium ids for the single-agent agents, open_spiel games for AlphaZero."""

from __future__ import annotations

import numpy as np

from common.errors import UsageError

GYM_AGENTS = {"dqn": "discrete", "ppo": "discrete", "sac": "continuous"}


def check_environment(agent: str, name: str) -> None:
    """Raises UsageError unless `name` is an environment `agent` can learn (by the kind of its actions)."""
    if agent == "alphazero":
        load_game(name)
        return
    env = make_env(name)
    kind = "discrete" if hasattr(env.action_space, "n") else "continuous"
    env.close()
    if kind != GYM_AGENTS[agent]:
        raise UsageError(f"{agent} needs an environment with {GYM_AGENTS[agent]} actions; {name} has {kind} ones "
                         f"(use {'sac' if kind == 'continuous' else 'dqn or ppo'})")


def make_env(name: str, seed: int | None = None):
    """A gymnasium environment, or UsageError naming close matches when the id is unknown."""
    import gymnasium as gym

    if name not in gym.envs.registry:
        import difflib

        close = difflib.get_close_matches(name, list(gym.envs.registry), n=3, cutoff=0.5)
        hint = f" (did you mean {', '.join(close)}?)" if close else " (e.g. CartPole-v1, Acrobot-v1, Pendulum-v1)"
        raise UsageError(f"unknown gymnasium environment {name!r}{hint}")
    try:
        env = gym.make(name)
    except Exception as exc:  # missing extras (box2d, mujoco) and the like
        raise UsageError(f"cannot create gymnasium environment {name!r}: {exc}") from None
    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
    return env


def load_game(name: str):
    """An open_spiel game, or UsageError for an unknown name."""
    import pyspiel

    try:
        game = pyspiel.load_game(name)
    except Exception:  # pyspiel raises a bare RuntimeError/SpielError for unknown games
        import difflib

        close = difflib.get_close_matches(name, pyspiel.registered_names(), n=3, cutoff=0.5)
        hint = f" (did you mean {', '.join(close)}?)" if close else " (e.g. tic_tac_toe, connect_four, chess, go)"
        raise UsageError(f"unknown open_spiel game {name!r}{hint}") from None
    info = game.get_type()
    if game.num_players() != 2 or info.dynamics != pyspiel.GameType.Dynamics.SEQUENTIAL or \
            info.chance_mode != pyspiel.GameType.ChanceMode.DETERMINISTIC or \
            info.information != pyspiel.GameType.Information.PERFECT_INFORMATION:
        raise UsageError(f"alphazero plays deterministic two-player perfect-information games; {name!r} is not one")
    return game


def run_episodes(env_name: str, policy, episodes: int, seed: int, max_parallel: int = 100,
                 with_lengths: bool = False):
    """Returns of `episodes` episodes of `policy` (a function of a batch of observations -> actions), run
    side by side so the policy sees one batch per time step instead of one observation; with
    `with_lengths`, (returns, episode lengths)."""
    returns, lengths = [], []
    next_seed = seed
    while len(returns) < episodes:
        n = min(max_parallel, episodes - len(returns))
        envs = [make_env(env_name) for _ in range(n)]
        obs = [env.reset(seed=next_seed + i)[0] for i, env in enumerate(envs)]
        next_seed += n
        totals, steps = np.zeros(n), np.zeros(n, np.int64)
        active = list(range(n))
        while active:
            actions = policy(np.stack([obs[i] for i in active]).astype(np.float32))
            still = []
            for i, action in zip(active, actions):
                obs[i], reward, terminated, truncated, _ = envs[i].step(action)
                totals[i] += reward
                steps[i] += 1
                if not (terminated or truncated):
                    still.append(i)
            active = still
        for env in envs:
            env.close()
        returns.extend(totals.tolist())
        lengths.extend(steps.tolist())
    return (np.asarray(returns), np.asarray(lengths)) if with_lengths else np.asarray(returns)


def random_policy(env_name: str, seed: int):
    """A uniformly random policy over the environment's action space (the baseline)."""
    env = make_env(env_name, seed)
    space = env.action_space
    return lambda obs: [space.sample() for _ in range(len(obs))]
