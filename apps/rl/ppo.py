"""PPO: clipped policy-gradient updates on rollouts of parallel environments, with GAE advantages."""

from __future__ import annotations

import os
import time

import keras
import numpy as np
import tensorflow as tf

from apps.rl.envs import make_env
from apps.rl.networks import NumpyMLP, build_actor_critic
from apps.rl.state import load_state, pack_objects, save_state, unpack_objects
from common.errors import TrainingDiverged
from common.monitoring import log_marks, rewind_logs


def gae(rewards, values, terminated, last_values, gamma: float, lam: float):
    """Generalised advantage estimates and returns of a (steps, envs) rollout.

    `terminated[t]` ends the episode after step t (no bootstrapping past it); `values[t]` is V(s_t)
    and `last_values` V of the state after the last step. Returns (advantages, returns)."""
    rewards, values, terminated = (np.asarray(a, np.float32) for a in (rewards, values, terminated))
    advantages = np.zeros_like(rewards)
    running = np.zeros_like(rewards[0])
    next_values = np.asarray(last_values, np.float32)
    for t in reversed(range(len(rewards))):
        alive = 1.0 - terminated[t]
        delta = rewards[t] + gamma * next_values * alive - values[t]
        running = delta + gamma * lam * alive * running
        advantages[t] = running
        next_values = values[t]
    return advantages, advantages + values


class PPOAgent:
    """An actor-critic network with PPO's clipped surrogate loss.

    `act` and `value` read NumPy copies of the network taken after each update and sample actions from a
    NumPy generator (`rng`), so a rollout step pays no TensorFlow call; `update_burst` runs all the
    minibatch steps of a rollout in one compiled call.

    Args:
        obs_dim: observation length.
        n_actions: number of discrete actions.
        hidden: units of the hidden layers of the policy and of the value MLP.
        learning_rate: initial Adam step size (`update` takes the current one).
        entropy_coef: weight of the entropy bonus.
        value_coef: weight of the value loss.
        max_grad_norm: global-norm gradient clipping.
        seed: seed of action sampling.

    Example:
        actions, log_probs, values = agent.act(observations)
        losses = agent.update(batch, clip_range=0.2, learning_rate=3e-4)
        losses = agent.update_burst(batches, clip_range=0.2)  # batches stacked: (steps, batch_size, ...)
    """

    def __init__(self, obs_dim: int, n_actions: int, hidden: int = 64, learning_rate: float = 1e-3,
                 entropy_coef: float = 0.0, value_coef: float = 0.5, max_grad_norm: float = 0.5, seed: int = 0):
        self.model = build_actor_critic(obs_dim, n_actions, hidden)
        self.optimizer = keras.optimizers.Adam(learning_rate, global_clipnorm=max_grad_norm or None)
        self.optimizer.build(self.model.trainable_variables)
        self.entropy_coef, self.value_coef = entropy_coef, value_coef
        # its own stream: a generator seeded with `seed` alone draws the loop's (or the action space's) numbers
        self.rng = np.random.default_rng([seed, 1])
        layer = self.model.get_layer
        self.policy = NumpyMLP([layer("pi_dense_1"), layer("pi_dense_2")], [layer("logits")])
        self.critic = NumpyMLP([layer("v_dense_1"), layer("v_dense_2")], [layer("value")])

    def refresh_policy(self) -> None:
        """Re-reads the network's weights into the NumPy copies `act` and `value` use."""
        self.policy.refresh()
        self.critic.refresh()

    def act(self, obs: np.ndarray):
        """Sampled actions, their log-probabilities and the state values for a batch of observations."""
        logits = self.policy(obs)[0]
        log_all = logits - logits.max(axis=-1, keepdims=True)
        log_all -= np.log(np.exp(log_all).sum(axis=-1, keepdims=True))
        actions = np.argmax(log_all + self.rng.gumbel(size=log_all.shape), axis=-1)  # Gumbel-max: a softmax sample
        return actions, np.take_along_axis(log_all, actions[:, None], axis=1)[:, 0], self.value(obs)

    def value(self, obs: np.ndarray) -> np.ndarray:
        return self.critic(obs)[0][:, 0]

    def _train_step(self, obs, actions, old_log_probs, advantages, returns, clip_range):
        advantages = (advantages - tf.reduce_mean(advantages)) / (tf.math.reduce_std(advantages) + 1e-8)
        with tf.GradientTape() as tape:
            logits, values = self.model(obs, training=True)
            log_all = tf.nn.log_softmax(logits)
            log_probs = tf.gather(log_all, actions, axis=1, batch_dims=1)
            ratio = tf.exp(log_probs - old_log_probs)
            surrogate = tf.minimum(ratio * advantages,
                                   tf.clip_by_value(ratio, 1 - clip_range, 1 + clip_range) * advantages)
            policy_loss = -tf.reduce_mean(surrogate)
            value_loss = tf.reduce_mean(tf.square(returns - values[:, 0]))
            entropy = -tf.reduce_mean(tf.reduce_sum(tf.exp(log_all) * log_all, axis=-1))
            loss = policy_loss + self.value_coef * value_loss - self.entropy_coef * entropy
        grads = tape.gradient(loss, self.model.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables))
        return tf.stack([loss, policy_loss, value_loss, entropy])

    @tf.function(reduce_retracing=True)
    def _train_burst(self, obs, actions, old_log_probs, advantages, returns, clip_range):
        steps = tf.shape(obs)[0]
        losses = tf.TensorArray(tf.float32, size=steps)
        for i in tf.range(steps):
            losses = losses.write(i, self._train_step(obs[i], actions[i], old_log_probs[i], advantages[i],
                                                      returns[i], clip_range))
        return losses.stack()

    def update_burst(self, batches: dict[str, np.ndarray], clip_range: float = 0.2,
                     learning_rate: float | None = None) -> np.ndarray:
        """One gradient step per leading index of `batches` (obs, actions, log_probs, advantages, returns stacked
        as (steps, batch_size, ...)), in order, in one compiled call; returns the (steps, 4) losses (loss,
        policy loss, value loss, entropy)."""
        if learning_rate is not None:
            self.optimizer.learning_rate.assign(learning_rate)
        out = self._train_burst(tf.convert_to_tensor(batches["obs"], tf.float32),
                                tf.convert_to_tensor(batches["actions"], tf.int64),
                                *(tf.convert_to_tensor(batches[k], tf.float32) for k in
                                  ("log_probs", "advantages", "returns")), tf.constant(clip_range, tf.float32))
        self.refresh_policy()
        return out.numpy()

    def update(self, batch: dict[str, np.ndarray], clip_range: float = 0.2, learning_rate: float | None = None):
        """One gradient step on a minibatch (obs, actions, log_probs, advantages, returns); returns
        (loss, policy loss, value loss, entropy)."""
        out = self.update_burst({k: np.asarray(v)[None] for k, v in batch.items()}, clip_range, learning_rate)
        return tuple(float(v) for v in out[0])


def train_ppo(cfg, run, verbose) -> dict:
    """The PPO loop of `RL.train_loop`. Checkpoints are taken after an update (a rollout boundary), with what
    decides the rest of the run: the network, the optimizer, the action-sampling and minibatch generators, the
    environments in mid-episode (pickled, with their own generators), their current observations and running
    returns, the counters and the length of the TensorBoard logs; a resumed run goes on exactly as an
    uninterrupted one."""
    envs = [make_env(cfg.dataset) for _ in range(cfg.n_envs)]
    obs_dim = int(np.prod(envs[0].observation_space.shape))
    agent = PPOAgent(obs_dim, int(envs[0].action_space.n), cfg.hidden, cfg.learning_rate, cfg.entropy_coef,
                     max_grad_norm=0.5, seed=cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    path = os.path.join(run.checkpoints, "state.npz")
    step, episodes, recent, logs = 0, 0, [], None
    restored = load_state(path, {"actor_critic": agent.model}, {"adam": agent.optimizer})
    if restored is not None:
        arrays, meta = restored
        step, episodes, recent, logs = meta["step"], meta["episodes"], meta["recent"], meta["logs"]
        rng.bit_generator.state = meta["rng"]
        agent.rng.bit_generator.state = meta["action_rng"]
        agent.refresh_policy()
        for env in envs:
            env.close()
        envs = unpack_objects(arrays["envs"], path)
        obs, totals = arrays["obs"], arrays["totals"]
        if verbose:
            print(f"resuming at step {step}", flush=True)
    else:
        obs = np.stack([env.reset(seed=cfg.seed + i)[0] for i, env in enumerate(envs)]).astype(np.float32)
        totals = np.zeros(cfg.n_envs)
    rewind_logs(run.logs, logs)  # what a killed run logged after its last checkpoint goes
    writer = tf.summary.create_file_writer(run.logs)
    rollout = cfg.n_envs * cfg.n_steps
    start, first_step, last_checkpoint = time.perf_counter(), step, step
    while step < cfg.total_steps:
        progress = step / cfg.total_steps  # learning rate and clip range decay linearly to 0
        buf = {k: [] for k in ("obs", "actions", "log_probs", "values", "rewards", "terminated")}
        for _ in range(cfg.n_steps):
            actions, log_probs, values = agent.act(obs)
            rewards, terminated, next_obs = np.zeros(cfg.n_envs, np.float32), np.zeros(cfg.n_envs), obs.copy()
            for i, env in enumerate(envs):
                o, r, term, trunc, _ = env.step(int(actions[i]))
                totals[i] += r
                if trunc and not term:  # a time limit is not a terminal state: bootstrap from it
                    r += cfg.gamma * float(agent.value(np.asarray(o, np.float32)[None])[0])
                if term or trunc:
                    episodes += 1
                    recent = (recent + [float(totals[i])])[-100:]
                    with writer.as_default(step=step):
                        tf.summary.scalar("episode_return", totals[i])
                    totals[i] = 0.0
                    o, _ = env.reset()
                rewards[i], terminated[i], next_obs[i] = r, float(term or trunc), o
            for key, value in zip(buf, (obs, actions, log_probs, values, rewards, terminated)):
                buf[key].append(value)
            obs = next_obs
            step += cfg.n_envs
        advantages, returns = gae(buf["rewards"], buf["values"], buf["terminated"], agent.value(obs), cfg.gamma,
                                  cfg.gae_lambda)
        flat = {"obs": np.concatenate(buf["obs"]), "actions": np.concatenate(buf["actions"]),
                "log_probs": np.concatenate(buf["log_probs"]), "advantages": advantages.reshape(-1),
                "returns": returns.reshape(-1)}
        # every epoch's minibatches, drawn at once (nothing else draws from `rng` meanwhile); each run of
        # equal-sized minibatches is one compiled burst (all of them unless batch_size does not divide the rollout)
        orders = [rng.permutation(rollout) for _ in range(cfg.ppo_epochs)]
        index = [order[lo:lo + cfg.batch_size] for order in orders for lo in range(0, rollout, cfg.batch_size)]
        losses, lo = [], 0
        while lo < len(index):
            hi = lo + 1
            while hi < len(index) and len(index[hi]) == len(index[lo]):
                hi += 1
            burst = np.stack(index[lo:hi])
            losses.append(agent.update_burst({k: v[burst] for k, v in flat.items()}, cfg.clip_range * (1 - progress),
                                             cfg.learning_rate * (1 - progress)))
            lo = hi
        losses = np.concatenate(losses)
        if not np.all(np.isfinite(losses)):
            raise TrainingDiverged(f"training diverged: the PPO loss became NaN/inf at step {step}; "
                                   f"lower learning_rate (now {cfg.learning_rate:g})")
        with writer.as_default(step=step):
            for i, name in enumerate(("loss", "policy_loss", "value_loss", "entropy")):
                tf.summary.scalar(name, losses[:, i].mean())
        if step - last_checkpoint >= cfg.checkpoint_every or step >= cfg.total_steps:
            last_checkpoint = step
            writer.flush()
            save_state(path, {"actor_critic": agent.model}, {"adam": agent.optimizer},
                       {"envs": pack_objects(envs), "obs": obs, "totals": totals},
                       {"step": step, "episodes": episodes, "recent": recent, "rng": rng.bit_generator.state,
                        "action_rng": agent.rng.bit_generator.state,
                        "logs": log_marks(run.logs)})
            if verbose:
                print(f"step {step}/{cfg.total_steps}  episodes {episodes}  mean return (last 100) "
                      f"{np.mean(recent) if recent else float('nan'):.1f}  loss {losses[:, 0].mean():.4f}", flush=True)
    writer.flush()
    seconds = time.perf_counter() - start
    return {"model": agent.model, "agent": agent, "episodes": episodes,
            "steps_per_second": (step - first_step) / max(seconds, 1e-9)}
