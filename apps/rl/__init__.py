"""Reinforcement learning: DQN, PPO and SAC on gymnasium environments, AlphaZero self-play on open_spiel games.

    dlsuite rl train                                            # DQN on CartPole-v1 (50,000 steps)
    dlsuite rl train --set agent=ppo --dataset Acrobot-v1       # PPO on CartPole-v1 or Acrobot-v1
    dlsuite rl train --set agent=sac                            # SAC on Pendulum-v1
    dlsuite rl train --set agent=alphazero --dataset tic_tac_toe   # or connect_four, chess, go, ...
    dlsuite rl evaluate --run DIR                               # 100 greedy episodes / games again
    dlsuite rl predict --run DIR 0.01,0.2,-0.03,-0.3            # the action for an observation
    dlsuite rl play --run DIR                                   # play the alphazero agent in the terminal

* `--dataset` names the environment: a gymnasium id for dqn/ppo/sac, an open_spiel game for
  alphazero (empty: the agent's default). Config fields left at 0 take the agent's tuned default.
* Agents are classes with `act` and `update` (`dqn.py`, `ppo.py`, `sac.py`, `alphazero.py`); the
  replay buffer is `replay.py`, the Keras networks `networks.py`.
* TensorBoard (`DIR/logs`): episode return, loss, ε (DQN) per environment step.
* `DIR/checkpoints/state.npz` holds networks, optimizer slots, replay buffer, counters, generator
  states and the logs' lengths, written atomically at an episode end (PPO: an update) after every
  `checkpoint_every` steps: rerunning the same train command resumes from it and ends as an
  uninterrupted run would (same logged points, same test metrics with `deterministic=true`).
* Baselines: a uniformly random policy's mean return on the same evaluation episodes; for games, a
  random player and open_spiel's MCTS bot against the same opponents as the agent.
* DQN serves the network that scored best in greedy checks every `select_every` steps (episodes on
  separate seeds, not learned from; their steps are in metrics.json as `selection_env_steps`).
* AlphaZero (`alphazero.py`): PUCT search guided by a policy-value network, self-play with root
  Dirichlet noise, visit-count sampling in the opening and 0-2 random opening moves; evaluated
  against a random player, open_spiel's MCTS bot and (tic-tac-toe) exhaustive minimax.
"""
