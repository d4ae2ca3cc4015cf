"""The reinforcement-learning task: agents train in their own loop (`trains_with_fit = False`)."""

from __future__ import annotations

import numpy as np

from apps.rl.config import RLConfig
from apps.rl.envs import random_policy, run_episodes
from apps.rl.spec import SPEC
from common.errors import UsageError
from common.export import save_model
from common.task import Task

EVAL_SEED = 1_000_000  # evaluation episodes start from seeds no training episode used
# rl-baselines3-zoo's PPO settings for Acrobot-v1 (longer rollouts, less discounting of the far reward)
ACROBOT_PPO = {"agent": "ppo", "dataset": "Acrobot-v1", "n_envs": 16, "n_steps": 256, "gamma": 0.99,
               "gae_lambda": 0.94, "ppo_epochs": 4, "batch_size": 256, "total_steps": 200_000,
               "checkpoint_every": 20_000}
# Connect four within a CPU budget of about 15 minutes: fewer games than it takes to beat MCTS-200
CONNECT_FOUR = {"agent": "alphazero", "dataset": "connect_four", "total_steps": 2000, "simulations": 40,
                "eval_episodes": 40, "checkpoint_every": 2500}


class RL(Task):
    spec = SPEC  # name, description, config, models, actions: what the CLI shows without TensorFlow
    name = SPEC.name
    config_class = SPEC.config_class
    primary_metric = ("mean_return", "higher", ".1f")
    trains_with_fit = False
    benchmark_rows = (
        ("rl-dqn-CartPole-v1-seed1", {"seed": 1}),
        ("rl-dqn-CartPole-v1-seed2", {"seed": 2}),
        ("rl-ppo-CartPole-v1", {"agent": "ppo", "dataset": "CartPole-v1"}),
        ("rl-ppo-Acrobot-v1", ACROBOT_PPO),
        ("rl-sac-Pendulum-v1", {"agent": "sac", "dataset": "Pendulum-v1"}),
        ("rl-alphazero-tic_tac_toe", {"agent": "alphazero", "dataset": "tic_tac_toe"}),
        ("rl-alphazero-connect_four", CONNECT_FOUR),
    )

    # --- data: the environment's name is all there is -----------------------------------------
    def load_data(self, cfg: RLConfig):
        return cfg.dataset

    def build_inputs(self, cfg, data):
        return {}

    # --- training ------------------------------------------------------------------------------
    def train_loop(self, cfg: RLConfig, run, verbose) -> dict:
        verbose = 0 if verbose == 0 else 1
        if cfg.agent == "alphazero":
            from apps.rl.alphazero import train_alphazero

            result = train_alphazero(cfg, run, verbose)
        elif cfg.agent == "dqn":
            from apps.rl.dqn import train_dqn

            result = train_dqn(cfg, run, verbose)
        elif cfg.agent == "ppo":
            from apps.rl.ppo import train_ppo

            result = train_ppo(cfg, run, verbose)
        else:
            from apps.rl.sac import train_sac

            result = train_sac(cfg, run, verbose)
        model = result["model"]
        save_model(model, run.model)
        test = self.evaluate(model, cfg, cfg.dataset, {})
        metrics = {"test": test, "baselines": self.baselines(cfg, cfg.dataset), "parameters": model.count_params(),
                   "epochs": result.get("episodes", 0), "examples_per_second": round(result["steps_per_second"], 1),
                   "data": {"agent": cfg.agent, "environment": cfg.dataset}}
        if "selection" in result:
            metrics["test"] = {**test, **result["selection"]}
        if "speed" in result:  # alphazero: MCTS simulations/s of self-play, games a minute of the whole loop
            metrics["speed"] = result["speed"]
        if verbose:
            print(f"evaluation: {test}", flush=True)
        return metrics

    # --- evaluation ----------------------------------------------------------------------------
    def evaluate(self, model, cfg: RLConfig, data, inputs) -> dict:
        if cfg.agent == "alphazero":
            from apps.rl.alphazero import evaluate_alphazero

            return evaluate_alphazero(model, cfg)
        returns = run_episodes(cfg.dataset, greedy_policy(model, cfg.agent), cfg.eval_episodes, cfg.seed + EVAL_SEED)
        return return_stats(returns)

    def baselines(self, cfg: RLConfig, data) -> dict:
        if cfg.agent == "alphazero":
            from apps.rl.alphazero import baseline_results

            return baseline_results(cfg)
        returns = run_episodes(cfg.dataset, random_policy(cfg.dataset, cfg.seed), cfg.eval_episodes,
                               cfg.seed + EVAL_SEED)
        return {"random_policy": return_stats(returns)}

    def predict(self, model, cfg: RLConfig, summary: dict, inputs: list[str]) -> list[dict]:
        """The agent's action for each observation given as comma-separated numbers."""
        if cfg.agent == "alphazero":
            raise UsageError("alphazero agents are used with `dlsuite rl play --run DIR`")
        policy = greedy_policy(model, cfg.agent)
        records = []
        for text in inputs:
            try:
                obs = np.asarray([float(v) for v in text.split(",")], np.float32)
            except ValueError:
                raise UsageError(f"an observation is comma-separated numbers, got {text!r}") from None
            expected = model.inputs[0].shape[-1]
            if obs.size != expected:
                raise UsageError(f"{cfg.dataset} observations have {expected} numbers, got {obs.size} in {text!r}")
            action = policy(obs[None])[0]
            records.append({"observation": obs.tolist(), "action": np.asarray(action).tolist()})
        return records

    def serving_outputs(self, cfg: RLConfig, outputs, summary: dict):
        """The exported policy (a batch of observations in) returns `action`, the greedy action `predict` gives,
        with what it was chosen from: DQN `q_values`; PPO `logits` and `value`; AlphaZero (a board in)
        `policy` logits over moves and `value`. SAC's served model is its deterministic action already."""
        import tensorflow as tf

        if cfg.agent == "sac":
            return {"action": outputs}
        if cfg.agent == "alphazero":
            policy, value = outputs
            return {"policy": policy, "value": value}
        if cfg.agent == "ppo":
            logits, value = outputs
            return {"action": tf.argmax(logits, axis=-1), "logits": logits, "value": value}
        return {"action": tf.argmax(outputs, axis=-1), "q_values": outputs}

    # --- play --------------------------------------------------------------------------------
    def run_action(self, name, model, cfg: RLConfig, summary, args) -> str:
        if cfg.agent != "alphazero":
            raise UsageError(f"play needs an alphazero run; {summary.get('run_dir')} is a {cfg.agent} run")
        from apps.rl.alphazero import play_in_terminal

        return play_in_terminal(model, cfg, human_first=args.human_first)

    # --- benchmark -----------------------------------------------------------------------------
    def primary_metric_of(self, metrics: dict):
        if metrics.get("config", {}).get("agent") != "alphazero":
            return self.primary_metric
        if metrics.get("dataset") == "tic_tac_toe":
            return ("losses_vs_minimax", "lower", "d")  # of 100 games against perfect play
        return ("win_rate_vs_random", "higher", ".2f")

    def benchmark_target(self, metrics: dict):
        cfg = metrics.get("config", {})
        test = metrics["test"]
        agent, env = cfg.get("agent"), metrics.get("dataset")
        if agent == "alphazero":
            if env == "tic_tac_toe":
                lost = test.get("losses_vs_minimax", -1)
                return "no game lost to minimax over 100 games", lost == 0, f"{lost} lost"
            if env == "connect_four":
                met = test.get("win_rate_vs_random", 0) >= 0.95 and test.get("win_rate_vs_mcts", 0) >= 0.5
                return ("≥95% wins vs random, ≥50% vs MCTS-200", met,
                        f"{test.get('win_rate_vs_random', 0):.0%} / {test.get('win_rate_vs_mcts', 0):.0%} "
                        f"over {cfg.get('eval_episodes')} games each")
            return None
        mean = test.get("mean_return")
        target = {"CartPole-v1": 475.0, "Pendulum-v1": -200.0}.get(env)  # the targets
        if mean is None or target is None:
            return None
        return f"mean return ≥ {target:g} over {test.get('episodes')} episodes", mean >= target, f"{mean:.1f}"

    def benchmark_summary(self, results: list[dict]):
        dqn = [r["metrics"]["test"]["mean_return"] for r in results
               if r["metrics"].get("config", {}).get("agent") == "dqn" and r["metrics"].get("dataset") == "CartPole-v1"]
        if not dqn:
            return []
        return [(f"DQN CartPole-v1 mean return ≥ 475 on each of {len(dqn)} seeds", min(dqn) >= 475,
                 ", ".join(f"{v:.1f}" for v in dqn))]


def greedy_policy(model, agent: str):
    """Batch of observations -> the served model's best actions (argmax of Q-values or logits, the
    SAC actor's deterministic action)."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def forward(obs):
        return model(obs, training=False)

    def policy(obs):
        out = forward(tf.convert_to_tensor(obs, tf.float32))
        if agent == "sac":
            return np.asarray(out)
        if isinstance(out, (list, tuple)):  # PPO: (logits, value)
            out = out[0]
        return np.argmax(np.asarray(out), axis=-1)

    return policy


def return_stats(returns: np.ndarray) -> dict:
    return {"mean_return": float(np.mean(returns)), "std_return": float(np.std(returns)),
            "min_return": float(np.min(returns)), "episodes": int(len(returns))}
