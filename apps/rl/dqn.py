"""DQN: double-Q targets from a target network, experience replay, Huber loss, ε-greedy exploration."""

from __future__ import annotations

import os
import time

import keras
import numpy as np
import tensorflow as tf

from apps.rl.envs import make_env, run_episodes
from apps.rl.networks import build_q_network, numpy_q_network
from apps.rl.replay import ReplayBuffer, train_burst
from apps.rl.state import load_state, save_state
from common.errors import TrainingDiverged
from common.monitoring import log_marks, rewind_logs

SELECT_SEED = 2_000_000  # seeds of the selection episodes: neither training nor final evaluation ones


def dqn_targets(rewards, terminated, next_q_online, next_q_target, gamma: float, double_q: bool = True):
    """TD targets r + γ (1 - terminated) Q_target(s', a*) for a batch.

    Double-Q (van Hasselt et al., 2016): a* = argmax_a Q_online(s', a), valued by the target network,
    which removes the overestimation of max_a Q_target(s', a); without it, a* maximises Q_target.
    """
    rewards = tf.convert_to_tensor(rewards, tf.float32)
    terminated = tf.convert_to_tensor(terminated, tf.float32)
    next_q_target = tf.convert_to_tensor(next_q_target, tf.float32)
    chooser = tf.convert_to_tensor(next_q_online, tf.float32) if double_q else next_q_target
    best = tf.argmax(chooser, axis=-1, output_type=tf.int32)
    next_value = tf.gather(next_q_target, best, axis=1, batch_dims=1)
    return rewards + gamma * (1.0 - terminated) * next_value


def linear_epsilon(step: int, start: float, end: float, decay_steps: int) -> float:
    """ε decays linearly from `start` to `end` over `decay_steps` steps, then stays at `end`."""
    if decay_steps <= 0:
        return end
    return end + (start - end) * max(0.0, 1.0 - step / decay_steps)


class DQNAgent:
    """An online Q-network, its target copy and an Adam optimizer on the Huber TD loss.

    `update_burst` runs a burst of gradient steps in one compiled call (TensorFlow's per-call dispatch
    and conversions cost more than the step itself on these small networks); `act` reads a NumPy copy
    of the Q-network taken after each update, so acting on one observation pays no TensorFlow call.

    Args:
        obs_dim: length of the observation vector.
        n_actions: number of discrete actions.
        hidden: units of the two hidden layers.
        learning_rate: Adam step size.
        gamma: discount factor.
        double_q: double-Q targets (see `dqn_targets`).
        max_grad_norm: global-norm gradient clipping (0 = off).
        seed: seed of the exploration generator.

    Example:
        agent = DQNAgent(4, 2)
        actions = agent.act(observations, epsilon=0.1)
        loss = agent.update(buffer.sample(64))
        losses = agent.update_burst(buffer.sample_many(128, 64))   # 128 steps, one call
    """

    def __init__(self, obs_dim: int, n_actions: int, hidden: int = 256, learning_rate: float = 1e-3,
                 gamma: float = 0.99, double_q: bool = True, max_grad_norm: float = 10.0, seed: int = 0):
        self.n_actions = n_actions
        self.gamma = gamma
        self.double_q = double_q
        self.q_network = build_q_network(obs_dim, n_actions, hidden)
        self.target_network = build_q_network(obs_dim, n_actions, hidden, name="target_q_network")
        self.sync_target()
        self.optimizer = keras.optimizers.Adam(learning_rate, global_clipnorm=max_grad_norm or None)
        self.optimizer.build(self.q_network.trainable_variables)
        self.loss_fn = keras.losses.Huber()
        self.rng = np.random.default_rng(seed)
        self.policy = numpy_q_network(self.q_network)

    def sync_target(self) -> None:
        self.target_network.set_weights(self.q_network.get_weights())

    def refresh_policy(self) -> None:
        """Re-reads the Q-network's weights into the NumPy copy `act` uses (after setting them from outside)."""
        self.policy.refresh()

    def act(self, obs: np.ndarray, epsilon: float = 0.0) -> np.ndarray:
        """ε-greedy actions for a batch of observations (obs_dim columns)."""
        actions = np.argmax(self.policy(obs)[0], axis=-1)
        explore = self.rng.random(len(actions)) < epsilon
        actions[explore] = self.rng.integers(0, self.n_actions, size=int(explore.sum()))
        return actions

    def _train_step(self, obs, actions, rewards, next_obs, terminated):
        targets = dqn_targets(rewards, terminated, self.q_network(next_obs, training=False),
                              self.target_network(next_obs, training=False), self.gamma, self.double_q)
        with tf.GradientTape() as tape:
            q = self.q_network(obs, training=True)
            taken = tf.gather(q, tf.cast(actions, tf.int32), axis=1, batch_dims=1)
            loss = self.loss_fn(tf.stop_gradient(targets), taken)
        grads = tape.gradient(loss, self.q_network.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.q_network.trainable_variables))
        return loss

    @tf.function(reduce_retracing=True)
    def _train_burst(self, obs, actions, rewards, next_obs, terminated):
        return train_burst(self._train_step, obs, actions, rewards, next_obs, terminated)

    def update_burst(self, batches: dict[str, np.ndarray]) -> np.ndarray:
        """One gradient step per leading index of `batches` (as `ReplayBuffer.sample_many` stacks them), in order,
        in one compiled call; returns the losses."""
        losses = self._train_burst(*(tf.convert_to_tensor(batches[k]) for k in
                                     ("obs", "actions", "rewards", "next_obs", "terminated"))).numpy()
        self.policy.refresh()
        return losses

    @tf.function
    def _train_one(self, obs, actions, rewards, next_obs, terminated):
        return self._train_step(obs, actions, rewards, next_obs, terminated)

    def update(self, batch: dict[str, np.ndarray]) -> float:
        """One gradient step on the Huber loss between Q(s, a) and the TD targets of `batch`; returns the loss."""
        loss = float(self._train_one(*(tf.convert_to_tensor(batch[k]) for k in
                                       ("obs", "actions", "rewards", "next_obs", "terminated"))))
        self.policy.refresh()
        return loss


def train_dqn(cfg, run, verbose) -> dict:
    """The DQN loop of `RL.train_loop`: returns the agent; checkpoints to run.checkpoints and resumes from there.

    Checkpoints are taken at the first episode end after each `checkpoint_every` steps (and at the end), where
    the next episode starts from its own seed: the replay buffer, networks, optimizer, generators, counters,
    the selection's best network and score, and the length of the TensorBoard logs are all that decides the rest,
    so a resumed run goes on exactly as an uninterrupted one."""
    env = make_env(cfg.dataset, cfg.seed)
    obs_dim = int(np.prod(env.observation_space.shape))
    agent = DQNAgent(obs_dim, int(env.action_space.n), cfg.hidden, cfg.learning_rate, cfg.gamma, cfg.double_q,
                     cfg.max_grad_norm, cfg.seed)
    buffer = ReplayBuffer(cfg.buffer_size, (obs_dim,), seed=cfg.seed + 1)
    # DQN's greedy policy swings between good and poor as training goes on (catastrophic forgetting):
    # every `select_every` steps a few greedy episodes on separate environments (not learned from)
    # score the network, and the best scoring one is served (as rl-baselines3-zoo's EvalCallback does).
    best = keras.models.clone_model(agent.q_network)
    best.set_weights(agent.q_network.get_weights())
    networks = {"q": agent.q_network, "target": agent.target_network, "best": best}
    path = os.path.join(run.checkpoints, "state.npz")
    step, episodes, recent, best_score, selection_steps = 0, 0, [], -np.inf, 0
    restored = load_state(path, networks, {"adam": agent.optimizer})
    logs = None
    if restored is not None:
        arrays, meta = restored
        buffer.restore({k[len("buffer/"):]: v for k, v in arrays.items() if k.startswith("buffer/")}, meta["buffer"])
        step, episodes, recent = meta["step"], meta["episodes"], meta["recent"]
        best_score, selection_steps = meta["best_score"], meta["selection_steps"]
        agent.rng.bit_generator.state = meta["rng"]
        logs = meta["logs"]
        agent.refresh_policy()
        if verbose:
            print(f"resuming at step {step}", flush=True)
    rewind_logs(run.logs, logs)  # what a killed run logged after its last checkpoint goes

    writer = tf.summary.create_file_writer(run.logs)

    def checkpoint():
        writer.flush()
        arrays, buffer_meta = buffer.state()
        save_state(path, networks, {"adam": agent.optimizer}, {f"buffer/{k}": v for k, v in arrays.items()},
                   {"step": step, "episodes": episodes, "recent": recent, "buffer": buffer_meta,
                    "rng": agent.rng.bit_generator.state, "best_score": best_score,
                    "selection_steps": selection_steps, "logs": log_marks(run.logs)})

    decay = int(cfg.epsilon_fraction * cfg.total_steps)
    obs, _ = env.reset(seed=cfg.seed + episodes)
    episode_return, losses, start = 0.0, [], time.perf_counter()
    first_step = last_checkpoint = step
    while step < cfg.total_steps:
        epsilon = linear_epsilon(step, cfg.epsilon_start, cfg.epsilon_end, decay)
        if step < cfg.learning_starts:
            action = int(agent.rng.integers(agent.n_actions))
        else:
            action = int(agent.act(obs[None].astype(np.float32), epsilon)[0])
        next_obs, reward, terminated, truncated, _ = env.step(action)
        buffer.add(obs, action, reward, next_obs, terminated)
        obs, episode_return, step = next_obs, episode_return + reward, step + 1
        ended = terminated or truncated
        if ended:
            episodes += 1
            recent = (recent + [episode_return])[-100:]
            with writer.as_default(step=step):
                tf.summary.scalar("episode_return", episode_return)
                tf.summary.scalar("epsilon", epsilon)
            obs, _ = env.reset(seed=cfg.seed + episodes)
            episode_return = 0.0
        if step >= cfg.learning_starts and step % cfg.train_every == 0:
            losses = agent.update_burst(buffer.sample_many(cfg.gradient_steps, cfg.batch_size))
            if not np.all(np.isfinite(losses)):
                raise TrainingDiverged(f"training diverged: the DQN loss became NaN/inf at step {step}; "
                                       f"lower learning_rate (now {cfg.learning_rate:g})")
            with writer.as_default(step=step):
                tf.summary.scalar("loss", float(np.mean(losses)))
        if step % cfg.target_update_every == 0:
            agent.sync_target()
        if cfg.select_every and step > cfg.learning_starts and (step % cfg.select_every == 0 or
                                                                 step == cfg.total_steps):
            returns, lengths = run_episodes(cfg.dataset, agent.act, cfg.select_episodes, SELECT_SEED + step,
                                            with_lengths=True)
            selection_steps += int(lengths.sum())
            with writer.as_default(step=step):
                tf.summary.scalar("greedy_return", float(returns.mean()))
            if returns.mean() >= best_score:  # ties: the later network, trained on more data
                best_score = float(returns.mean())
                best.set_weights(agent.q_network.get_weights())
        if ended and step - last_checkpoint >= cfg.checkpoint_every or step == cfg.total_steps:
            checkpoint()
            last_checkpoint = step
            if verbose:
                mean = np.mean(recent) if recent else float("nan")
                print(f"step {step}/{cfg.total_steps}  episodes {episodes}  mean return (last 100) {mean:.1f}  "
                      f"ε {epsilon:.3f}  loss {np.mean(losses) if len(losses) else float('nan'):.4f}", flush=True)
    writer.flush()
    env.close()
    seconds = time.perf_counter() - start
    return {"model": best if np.isfinite(best_score) else agent.q_network, "agent": agent, "episodes": episodes,
            "selection": {"best_greedy_return": best_score, "selection_env_steps": selection_steps},
            "steps_per_second": (step - first_step) / max(seconds, 1e-9)}
