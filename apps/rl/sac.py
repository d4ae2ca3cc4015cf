"""SAC: soft actor-critic with twin critics, target critics and a learned entropy temperature (continuous control)."""

from __future__ import annotations

import os
import time

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from apps.rl.envs import make_env
from apps.rl.networks import build_critic, build_gaussian_actor, numpy_gaussian_actor
from apps.rl.replay import ReplayBuffer, train_burst
from apps.rl.state import load_state, save_state
from common.errors import TrainingDiverged, UsageError
from common.monitoring import log_marks, rewind_logs

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


class SACAgent:
    """Haarnoja et al. (2018): a tanh-squashed Gaussian actor, two critics with slowly following targets,
    and α tuned so the policy's entropy stays near −action_dim.

    `update_burst` runs a burst of steps in one compiled call; `act` reads a NumPy copy of the actor taken
    after each update and draws its exploration noise from a NumPy generator (`rng`), so acting on one
    observation pays no TensorFlow call. The noise of the updates comes from the TensorFlow generator `seed`.

    Args:
        obs_dim: observation length.
        action_dim: action length.
        action_scale: actions lie in [−action_scale, action_scale].
        hidden: units of the two hidden layers of every network.
        learning_rate: Adam step size of actor, critics and α.
        gamma: discount factor.
        tau: Polyak rate of the target critics.
        seed: seed of the exploration noise (acting) and of the updates' noise.

    Example:
        actions = agent.act(observations)             # sampled; agent.act(obs, deterministic=True) for tanh(mean)
        critic_loss, actor_loss, alpha = agent.update(buffer.sample(256))
        losses = agent.update_burst(buffer.sample_many(64, 256))  # (64, 3): 64 steps in one call
    """

    def __init__(self, obs_dim: int, action_dim: int, action_scale: float = 1.0, hidden: int = 256,
                 learning_rate: float = 1e-3, gamma: float = 0.99, tau: float = 0.005, seed: int = 0):
        self.action_scale, self.gamma, self.tau = float(action_scale), gamma, tau
        self.target_entropy = -float(action_dim)
        self.actor = build_gaussian_actor(obs_dim, action_dim, hidden)
        self.critics = [build_critic(obs_dim, action_dim, hidden, f"critic_{i}") for i in (1, 2)]
        self.targets = [build_critic(obs_dim, action_dim, hidden, f"target_critic_{i}") for i in (1, 2)]
        for target, critic in zip(self.targets, self.critics):
            target.set_weights(critic.get_weights())
        self.log_alpha = keras.Variable(0.0, name="log_alpha")
        self.actor_optimizer = keras.optimizers.Adam(learning_rate)
        self.critic_optimizer = keras.optimizers.Adam(learning_rate)
        self.alpha_optimizer = keras.optimizers.Adam(learning_rate)
        self.actor_optimizer.build(self.actor.trainable_variables)
        self.critic_optimizer.build(self._critic_variables())
        self.alpha_optimizer.build([self.log_alpha])
        self.seed = tf.random.Generator.from_seed(seed)
        # its own stream: a generator seeded with `seed` alone draws the loop's (or the action space's) numbers
        self.rng = np.random.default_rng([seed, 1])
        self.policy = numpy_gaussian_actor(self.actor)

    def _critic_variables(self):
        return self.critics[0].trainable_variables + self.critics[1].trainable_variables

    def served_model(self) -> keras.Model:
        """Observation -> deterministic action scale·tanh(mean), sharing the actor's weights."""
        mean = self.actor.outputs[0]
        action = layers.Rescaling(self.action_scale, name="action")(layers.Activation("tanh")(mean))
        return keras.Model(self.actor.inputs[0], action, name="sac_policy")

    def _sample(self, obs):
        mean, log_std = self.actor(obs, training=False)
        std = tf.exp(tf.clip_by_value(log_std, LOG_STD_MIN, LOG_STD_MAX))
        noise = self.seed.normal(tf.shape(mean))
        u = mean + std * noise
        squashed = tf.tanh(u)
        log_prob = tf.reduce_sum(-0.5 * tf.square(noise) - tf.math.log(std) - 0.5 * np.log(2 * np.pi), axis=-1)
        log_prob -= tf.reduce_sum(tf.math.log(1.0 - tf.square(squashed) + 1e-6), axis=-1)
        return squashed * self.action_scale, log_prob

    def refresh_policy(self) -> None:
        """Re-reads the actor's weights into the NumPy copy `act` uses (after setting them from outside)."""
        self.policy.refresh()

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """scale·tanh(mean + std·noise) for a batch of observations; scale·tanh(mean) when `deterministic`."""
        mean, log_std = self.policy(obs)
        if not deterministic:
            std = np.exp(np.clip(log_std, LOG_STD_MIN, LOG_STD_MAX))
            mean = mean + std * self.rng.standard_normal(mean.shape, dtype=np.float32)
        return np.tanh(mean) * np.float32(self.action_scale)

    def _train_step(self, obs, actions, rewards, next_obs, terminated):
        alpha = tf.exp(self.log_alpha)
        next_actions, next_log_prob = self._sample(next_obs)
        next_q = tf.minimum(*(t([next_obs, next_actions], training=False)[:, 0] for t in self.targets))
        y = rewards + self.gamma * (1.0 - terminated) * (next_q - alpha * next_log_prob)
        with tf.GradientTape() as tape:
            critic_loss = sum(tf.reduce_mean(tf.square(c([obs, actions], training=True)[:, 0] - y))
                              for c in self.critics)
        variables = self._critic_variables()
        self.critic_optimizer.apply_gradients(zip(tape.gradient(critic_loss, variables), variables))

        with tf.GradientTape() as tape:
            new_actions, log_prob = self._sample(obs)
            q = tf.minimum(*(c([obs, new_actions], training=False)[:, 0] for c in self.critics))
            actor_loss = tf.reduce_mean(alpha * log_prob - q)
        variables = self.actor.trainable_variables
        self.actor_optimizer.apply_gradients(zip(tape.gradient(actor_loss, variables), variables))

        with tf.GradientTape() as tape:
            alpha_loss = -tf.reduce_mean(self.log_alpha * tf.stop_gradient(log_prob + self.target_entropy))
        self.alpha_optimizer.apply_gradients([(tape.gradient(alpha_loss, self.log_alpha), self.log_alpha)])

        for target, critic in zip(self.targets, self.critics):
            for t, c in zip(target.weights, critic.weights):
                t.assign((1.0 - self.tau) * t + self.tau * c)
        return tf.stack([critic_loss, actor_loss, alpha])

    @tf.function
    def _train_one(self, obs, actions, rewards, next_obs, terminated):
        return self._train_step(obs, actions, rewards, next_obs, terminated)

    @tf.function(reduce_retracing=True)
    def _train_burst(self, obs, actions, rewards, next_obs, terminated):
        return train_burst(self._train_step, obs, actions, rewards, next_obs, terminated)

    def update(self, batch: dict[str, np.ndarray]) -> tuple[float, float, float]:
        """One step of critics, actor and α on a replay batch; returns (critic loss, actor loss, α)."""
        out = self._train_one(*(tf.convert_to_tensor(batch[k], tf.float32) for k in
                                ("obs", "actions", "rewards", "next_obs", "terminated"))).numpy()
        self.policy.refresh()
        return tuple(float(v) for v in out)

    def update_burst(self, batches: dict[str, np.ndarray]) -> np.ndarray:
        """One step per leading index of `batches` (as `ReplayBuffer.sample_many` stacks them), in order, in one
        compiled call; returns the (steps, 3) critic losses, actor losses and α."""
        out = self._train_burst(*(tf.convert_to_tensor(batches[k], tf.float32) for k in
                                  ("obs", "actions", "rewards", "next_obs", "terminated"))).numpy()
        self.policy.refresh()
        return out

    def networks(self) -> dict[str, keras.Model]:
        return {"actor": self.actor, "critic_1": self.critics[0], "critic_2": self.critics[1],
                "target_1": self.targets[0], "target_2": self.targets[1]}

    def optimizers(self) -> dict:
        return {"actor": self.actor_optimizer, "critic": self.critic_optimizer, "alpha": self.alpha_optimizer}


def train_sac(cfg, run, verbose) -> dict:
    """The SAC loop of `RL.train_loop`. As DQN's, checkpoints are taken at the first episode end after each
    `checkpoint_every` steps (and at the end), with the networks, α, the optimizers, the replay buffer, the
    generators (the updates' and the acting noise, replay sampling, the action space's for the first random actions), the counters, the
    losses of the episode under way and the length of the TensorBoard logs: a resumed run goes on exactly as
    an uninterrupted one."""
    env = make_env(cfg.dataset, cfg.seed)
    low, high = env.action_space.low, env.action_space.high
    if not (np.allclose(low, -high) and np.allclose(high, high.flat[0])):
        raise UsageError(f"sac needs actions in a symmetric box [-h, h]; {cfg.dataset} has [{low}, {high}]")
    obs_dim, action_dim = int(np.prod(env.observation_space.shape)), int(np.prod(env.action_space.shape))
    agent = SACAgent(obs_dim, action_dim, float(high.flat[0]), cfg.hidden, cfg.learning_rate, cfg.gamma, cfg.tau,
                     cfg.seed)
    buffer = ReplayBuffer(cfg.buffer_size, (obs_dim,), (action_dim,), np.float32, seed=cfg.seed + 1)
    path = os.path.join(run.checkpoints, "state.npz")
    step, episodes, recent, losses, logs = 0, 0, [], [], None
    restored = load_state(path, agent.networks(), agent.optimizers())
    if restored is not None:
        arrays, meta = restored
        buffer.restore({k[len("buffer/"):]: v for k, v in arrays.items() if k.startswith("buffer/")}, meta["buffer"])
        agent.log_alpha.assign(float(arrays["log_alpha"]))
        agent.seed.state.assign(arrays["noise_seed"])
        env.action_space.np_random.bit_generator.state = meta["action_space_rng"]
        agent.rng.bit_generator.state = meta["rng"]
        agent.refresh_policy()
        losses = [tuple(row) for row in arrays["losses"].tolist()]
        step, episodes, recent, logs = meta["step"], meta["episodes"], meta["recent"], meta["logs"]
        if verbose:
            print(f"resuming at step {step}", flush=True)
    rewind_logs(run.logs, logs)  # what a killed run logged after its last checkpoint goes
    writer = tf.summary.create_file_writer(run.logs)
    obs, _ = env.reset(seed=cfg.seed + episodes)
    episode_return, start, first_step = 0.0, time.perf_counter(), step
    last_checkpoint = step
    while step < cfg.total_steps:
        if step < cfg.learning_starts:
            action = env.action_space.sample()
        else:
            action = agent.act(obs[None].astype(np.float32))[0]
        next_obs, reward, terminated, truncated, _ = env.step(action)
        buffer.add(obs, action, reward, next_obs, terminated)
        obs, episode_return, step = next_obs, episode_return + reward, step + 1
        ended = terminated or truncated
        if ended:
            episodes += 1
            recent = (recent + [float(episode_return)])[-100:]
            with writer.as_default(step=step):
                tf.summary.scalar("episode_return", episode_return)
                if losses:  # the losses of the episode's updates
                    values, losses = np.asarray(losses), []
                    if not np.all(np.isfinite(values)):
                        raise TrainingDiverged(f"training diverged: the SAC losses became NaN/inf at step {step}; "
                                               f"lower learning_rate (now {cfg.learning_rate:g})")
                    for i, name in enumerate(("critic_loss", "actor_loss", "alpha")):
                        tf.summary.scalar(name, values[:, i].mean())
                    tf.summary.scalar("loss", values[:, 0].mean())
            obs, _ = env.reset(seed=cfg.seed + episodes)
            episode_return = 0.0
        if step >= cfg.learning_starts and step % cfg.train_every == 0:
            losses += [tuple(row) for row in agent.update_burst(buffer.sample_many(cfg.gradient_steps,
                                                                                    cfg.batch_size)).tolist()]
        if ended and step - last_checkpoint >= cfg.checkpoint_every or step == cfg.total_steps:
            last_checkpoint = step
            writer.flush()
            arrays, buffer_meta = buffer.state()
            save_state(path, agent.networks(), agent.optimizers(),
                       {**{f"buffer/{k}": v for k, v in arrays.items()}, "log_alpha": float(agent.log_alpha),
                        "noise_seed": agent.seed.state.numpy(),
                        "losses": np.asarray(losses, np.float64).reshape(-1, 3)},  # of the episode under way
                       {"step": step, "episodes": episodes, "recent": recent, "buffer": buffer_meta,
                        "action_space_rng": env.action_space.np_random.bit_generator.state,
                        "rng": agent.rng.bit_generator.state,
                        "logs": log_marks(run.logs)})
            if verbose:
                print(f"step {step}/{cfg.total_steps}  episodes {episodes}  mean return (last 100) "
                      f"{np.mean(recent) if recent else float('nan'):.1f}  α {float(np.exp(agent.log_alpha)):.3f}",
                      flush=True)
    writer.flush()
    env.close()
    seconds = time.perf_counter() - start
    return {"model": agent.served_model(), "agent": agent, "episodes": episodes,
            "steps_per_second": (step - first_step) / max(seconds, 1e-9)}
