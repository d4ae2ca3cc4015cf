"""Configuration of the reinforcement-learning application."""

from __future__ import annotations

from dataclasses import dataclass

from common.config import TrainConfig, option
from common.errors import UsageError

AGENTS = ("dqn", "ppo", "sac", "alphazero")

# What a field left at 0 (or "") means for each agent: tuned settings that reach the targets
# within the budget (DQN and PPO follow rl-baselines3-zoo's CartPole settings).
AGENT_DEFAULTS = {
    "dqn": dict(dataset="CartPole-v1", total_steps=50_000, learning_rate=2.3e-3, gamma=0.99, hidden=256,
                batch_size=64, train_every=256, gradient_steps=128),
    "ppo": dict(dataset="CartPole-v1", total_steps=100_000, learning_rate=1e-3, gamma=0.98, hidden=64,
                batch_size=256),
    "sac": dict(dataset="Pendulum-v1", total_steps=20_000, learning_rate=1e-3, gamma=0.99, hidden=256,
                batch_size=256, train_every=64, gradient_steps=64),
    "alphazero": dict(dataset="tic_tac_toe", total_steps=800, learning_rate=1e-3, gamma=1.0, hidden=128,
                      batch_size=128),
}


@dataclass
class RLConfig(TrainConfig):
    """An RL agent and its environment; see `dlsuite rl config`. Fields at 0 take the agent's default."""

    agent: str = option("dqn", "dqn (CartPole-v1), ppo (CartPole-v1, Acrobot-v1), sac (Pendulum-v1) or alphazero "
                               "(open_spiel games by self-play).", choices=AGENTS)
    dataset: str = option("", "Environment: a gymnasium id (CartPole-v1, Acrobot-v1, Pendulum-v1) for dqn/ppo/sac, "
                              "an open_spiel game (tic_tac_toe, connect_four, chess, go) for alphazero; empty: the "
                              "agent's default.")
    total_steps: int = option(0, "Training budget: environment steps (dqn, ppo, sac) or self-play games (alphazero); "
                                 "0: the agent's default.", min=0)
    learning_rate: float = option(0.0, "Adam learning rate (0: the agent's default).", min=0.0)
    batch_size: int = option(0, "Minibatch size of each gradient step (0: the agent's default).", min=0)
    gamma: float = option(0.0, "Discount factor (0: the agent's default).", min=0.0)
    hidden: int = option(0, "Units of each of the two hidden layers of the networks (0: the agent's default).", min=0)
    eval_episodes: int = option(100, "Evaluation episodes (games for alphazero, per opponent) of the trained agent.",
                                min=1)
    checkpoint_every: int = option(5000, "Save the resumable state at the first episode end (dqn, sac) or update "
                                         "(ppo) after every N environment steps (alphazero: every N // 100 games).",
                                   min=1)
    # DQN
    buffer_size: int = option(100_000, "dqn/sac: replay buffer capacity (transitions).", min=1)
    learning_starts: int = option(1000, "dqn/sac: random-action steps before learning starts.", min=0)
    train_every: int = option(0, "dqn/sac: environment steps between training bursts (0: the agent's default, "
                                 "dqn 256, sac 64).", min=0)
    gradient_steps: int = option(0, "dqn/sac: gradient steps per training burst, run in one compiled call (0: the "
                                    "agent's default, dqn 128, sac 64).", min=0)
    target_update_every: int = option(256, "dqn: environment steps between copies of the online network into the "
                                           "target network.", min=1)
    epsilon_start: float = option(1.0, "dqn: exploration rate at the start of the ε-greedy schedule.", min=0.0)
    epsilon_end: float = option(0.04, "dqn: final exploration rate.", min=0.0)
    epsilon_fraction: float = option(0.16, "dqn: share of total_steps over which ε decays linearly.", min=0.0)
    double_q: bool = option(True, "dqn: double-Q targets (the online network picks the next action, the target "
                                  "network values it).")
    select_every: int = option(5000, "dqn: every N steps, score the greedy network on select_episodes separate "
                                     "episodes and serve the best scoring one (0: serve the last network).", min=0)
    select_episodes: int = option(5, "dqn: greedy episodes of each selection check (not learned from).", min=1)
    max_grad_norm: float = option(10.0, "dqn/ppo: gradients are clipped to this global norm.", min=0.0)
    # PPO
    n_envs: int = option(8, "ppo: parallel environments.", min=1)
    n_steps: int = option(32, "ppo: steps per environment per rollout.", min=1)
    ppo_epochs: int = option(20, "ppo: passes over each rollout.", min=1)
    clip_range: float = option(0.2, "ppo: clipping of the probability ratio.", min=0.0)
    gae_lambda: float = option(0.8, "ppo: λ of generalised advantage estimation.", min=0.0)
    entropy_coef: float = option(0.0, "ppo: entropy bonus weight.", min=0.0)
    # SAC
    tau: float = option(0.005, "sac: Polyak averaging rate of the target critics.", min=0.0)
    # AlphaZero
    simulations: int = option(50, "alphazero: MCTS simulations per move in self-play and evaluation.", min=1)
    c_puct: float = option(1.5, "alphazero: exploration constant of the PUCT rule.", min=0.0)
    dirichlet_alpha: float = option(0.5, "alphazero: Dirichlet noise at the root in self-play.", min=0.0)
    temperature_moves: int = option(4, "alphazero: moves of each self-play game sampled in proportion to visit "
                                       "counts (later ones: the most visited).", min=0)
    random_opening_moves: int = option(2, "alphazero: each self-play game opens with 0 to N uniformly random moves "
                                          "(more varied positions).", min=0)
    games_per_iteration: int = option(25, "alphazero: self-play games between training rounds.", min=1)
    train_steps_per_iteration: int = option(100, "alphazero: gradient steps after each batch of games.", min=1)
    mcts_bot_simulations: int = option(200, "alphazero: simulations of open_spiel's MCTS bot used as opponent.",
                                       min=1)

    def validate(self):
        defaults = AGENT_DEFAULTS[self.agent]
        for key, value in defaults.items():
            if not getattr(self, key):
                setattr(self, key, value)
        for name in ("epsilon_start", "epsilon_end", "epsilon_fraction", "gae_lambda", "tau"):
            if getattr(self, name) > 1.0:
                raise UsageError(f"{name}={getattr(self, name)} must be in [0, 1]")
        if self.gamma > 1.0:
            raise UsageError(f"gamma={self.gamma} must be in (0, 1]")
        if self.dataset != AGENT_DEFAULTS[self.agent]["dataset"]:  # a default needs no check (nor gymnasium,
            from apps.rl.envs import check_environment  # 0.3 s to import, for `dlsuite list`)

            check_environment(self.agent, self.dataset)
