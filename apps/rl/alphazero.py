"""AlphaZero at small scale: a policy-value network guides Monte Carlo tree search; it learns from its own games.

Any deterministic two-player perfect-information open_spiel game works by name (tic_tac_toe,
connect_four, chess, go, ...): the network reads open_spiel's observation planes plus one plane
saying whose move it is, and outputs logits over the game's distinct actions and a value in [-1, 1]
for the player to move.
"""

from __future__ import annotations

import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

from apps.rl.envs import load_game
from apps.rl.networks import build_policy_value_network
from apps.rl.state import load_state, save_state
from common.errors import TrainingDiverged, UsageError
from common.monitoring import log_marks, rewind_logs


def encode(state) -> np.ndarray:
    """Observation planes of the player to move plus a plane filled with that player's index."""
    player = state.current_player()
    shape = state.get_game().observation_tensor_shape()
    obs = np.asarray(state.observation_tensor(player), np.float32)
    if len(shape) == 3:
        obs = obs.reshape(shape)
        return np.concatenate([obs, np.full((1, *shape[1:]), float(player), np.float32)])
    return np.append(obs, float(player)).astype(np.float32)


def input_shape(game) -> tuple:
    shape = game.observation_tensor_shape()
    return (shape[0] + 1, *shape[1:]) if len(shape) == 3 else (int(np.prod(shape)) + 1,)


def build_network(game, hidden: int = 128) -> keras.Model:
    return build_policy_value_network(input_shape(game), game.num_distinct_actions(), hidden=hidden)


class NetworkEvaluator:
    """(priors over legal actions, value for the player to move) of a state from the network, cached by
    state (positions recur often in small games; call `clear()` after the weights change).

    `evaluate_many` runs the positions it has not seen in one network call and converts the outputs to
    NumPy once: one call on a board costs about as much as one on a batch of 16, and slicing a TF
    tensor costs more than the forward pass of a small network.
    """

    def __init__(self, model: keras.Model):
        self.model = model
        self.cache: dict[str, tuple[np.ndarray, float]] = {}
        self._forward = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def clear(self) -> None:
        self.cache.clear()

    def evaluate_many(self, states: list) -> list[tuple[dict[int, float], float]]:
        keys = [state.history_str() for state in states]
        missing = {}
        for key, state in zip(keys, states):
            if key not in self.cache and key not in missing:
                missing[key] = state
        if missing:
            logits, values = self._forward(np.stack([encode(state) for state in missing.values()]))
            logits, values = np.asarray(logits, np.float64), np.asarray(values, np.float64)[:, 0]
            for key, row, value in zip(missing, logits, values):
                self.cache[key] = (row, float(value))
        out = []
        for key, state in zip(keys, states):
            logits, value = self.cache[key]
            legal = state.legal_actions()
            masked = logits[legal] - logits[legal].max()
            priors = np.exp(masked) / np.exp(masked).sum()
            out.append((dict(zip(legal, priors)), value))
        return out

    def __call__(self, state) -> tuple[dict[int, float], float]:
        return self.evaluate_many([state])[0]


def run_searches(searches: list, evaluator) -> list:
    """Runs generators that yield the states they need evaluated (as `MCTS.search_steps` does) side by side:
    each round, the pending states of all of them go to the evaluator together (`evaluator.evaluate_many`
    when it has one: one network call), and each generator gets its answer. Returns their return values."""
    evaluate_many = getattr(evaluator, "evaluate_many", None) or (lambda states: [evaluator(s) for s in states])
    results, pending = [None] * len(searches), {}

    def advance(i, answer):
        try:
            pending[i] = searches[i].send(answer)
        except StopIteration as stop:
            results[i] = stop.value
            pending.pop(i, None)

    for i in range(len(searches)):
        advance(i, None)
    while pending:
        waiting = list(pending.items())
        for (i, _), answer in zip(waiting, evaluate_many([state for _, state in waiting])):
            advance(i, answer)
    return results


class Node:
    """A node of the search tree: `player` made the move into it; `value_sum` is from that player's side."""

    __slots__ = ("prior", "player", "visits", "value_sum", "children", "terminal_returns")

    def __init__(self, prior: float, player: int):
        self.prior, self.player = prior, player
        self.visits, self.value_sum = 0, 0.0
        self.children: dict[int, Node] = {}
        self.terminal_returns = None

    def q(self) -> float:
        return self.value_sum / self.visits if self.visits else 0.0


class MCTS:
    """PUCT tree search (AlphaZero): selection by Q + c·P·√N / (1 + n), expansion and evaluation by
    `evaluator(state) -> (priors, value for the player to move)`, backup of that value to every node
    from its mover's side. With `dirichlet_alpha`, the root priors are mixed with Dirichlet noise
    (self-play exploration).

    Args:
        evaluator: a `NetworkEvaluator`, or any function of the same signature (uniform priors and
            random rollouts make plain MCTS).
        simulations: simulations per search.
        c_puct: exploration constant.
        dirichlet_alpha: concentration of the root noise (0 = none).
        noise_fraction: weight of the noise in the root priors.
        seed: seed of the noise.

    `search_steps` is the search as a generator that yields each leaf state it needs evaluated, so
    several searches (of several games) can share one network call (`run_searches`).

    Example:
        visits = MCTS(NetworkEvaluator(model), simulations=50).search(state)   # {action: visit count}
    """

    def __init__(self, evaluator, simulations: int = 50, c_puct: float = 1.5, dirichlet_alpha: float = 0.0,
                 noise_fraction: float = 0.25, seed: int = 0):
        self.evaluator, self.simulations, self.c_puct = evaluator, simulations, c_puct
        self.dirichlet_alpha, self.noise_fraction = dirichlet_alpha, noise_fraction
        self.rng = np.random.default_rng(seed)

    def search(self, state) -> dict[int, int]:
        """Visit counts of the root's actions after `simulations` simulations from `state`."""
        return run_searches([self.search_steps(state)], self.evaluator)[0]

    def search_steps(self, state):
        """`search` as a generator: yields the states to evaluate, is sent (priors, value) for each, and
        returns the visit counts."""
        root = Node(1.0, -1)
        yield from self._expand(root, state)
        if self.dirichlet_alpha and root.children:
            noise = self.rng.dirichlet([self.dirichlet_alpha] * len(root.children))
            for child, eta in zip(root.children.values(), noise):
                child.prior = (1 - self.noise_fraction) * child.prior + self.noise_fraction * eta
        for _ in range(self.simulations):
            node, scratch, path = root, state.clone(), [root]
            while node.children and node.terminal_returns is None:
                action, node = self._select(node)
                scratch.apply_action(action)
                path.append(node)
            if scratch.is_terminal():
                node.terminal_returns = scratch.returns()
                returns = node.terminal_returns
            else:
                value = yield from self._expand(node, scratch)
                mover = scratch.current_player()
                returns = [value if p == mover else -value for p in range(2)]
            for visited in path:
                visited.visits += 1
                if visited.player >= 0:
                    visited.value_sum += returns[visited.player]
        return {action: child.visits for action, child in root.children.items()}

    def _select(self, node: Node) -> tuple[int, Node]:
        scale = self.c_puct * math.sqrt(node.visits)
        best, best_score = None, -math.inf
        for action, child in node.children.items():
            score = child.q() + scale * child.prior / (1 + child.visits)
            if score > best_score:
                best, best_score = (action, child), score
        return best

    def _expand(self, node: Node, state):
        if state.is_terminal():
            node.terminal_returns = state.returns()
            return 0.0
        priors, value = yield state
        player = state.current_player()
        node.children = {action: Node(p, player) for action, p in priors.items()}
        return value

    def best_action(self, state) -> int:
        visits = self.search(state)
        return max(visits, key=visits.get)


# --- self-play and training -----------------------------------------------------------------------

def self_play_game(game, mcts: MCTS, temperature_moves: int, rng, random_opening_moves: int = 0
                   ) -> tuple[list, list, list]:
    """One game of the agent against itself: (encoded states, visit distributions, outcomes for the mover).

    The game starts with 0 to `random_opening_moves` uniformly random moves (not trained on), so the
    network also sees the positions a strong opponent reaches by openings self-play itself would avoid."""
    return self_play_games(game, mcts, 1, temperature_moves, rng, random_opening_moves)[0]


def self_play_games(game, mcts: MCTS, games: int, temperature_moves: int, rng, random_opening_moves: int = 0
                    ) -> list[tuple[list, list, list]]:
    """`games` games of `self_play_game` played side by side, their leaves evaluated together (one network
    call for the pending leaves of all games still under way)."""
    return run_searches([_self_play_steps(game, mcts, temperature_moves, rng, random_opening_moves)
                         for _ in range(games)], mcts.evaluator)


def _self_play_steps(game, mcts: MCTS, temperature_moves: int, rng, random_opening_moves: int):
    state = game.new_initial_state()
    for _ in range(int(rng.integers(0, random_opening_moves + 1))):
        if state.is_terminal():
            break
        state.apply_action(int(rng.choice(state.legal_actions())))
    states, policies, movers = [], [], []
    n_actions = game.num_distinct_actions()
    while not state.is_terminal():
        visits = yield from mcts.search_steps(state)
        actions = np.fromiter(visits.keys(), int)
        counts = np.fromiter(visits.values(), float)
        pi = np.zeros(n_actions, np.float32)
        pi[actions] = counts / counts.sum()
        states.append(encode(state))
        policies.append(pi)
        movers.append(state.current_player())
        if len(states) <= temperature_moves:
            action = int(rng.choice(actions, p=counts / counts.sum()))
        else:
            action = int(actions[np.argmax(counts)])
        state.apply_action(action)
    returns = state.returns()
    return states, policies, [returns[p] for p in movers]


class AlphaZeroAgent:
    """The network, its optimizer and `update` on (states, search policies, outcomes).

    Loss: cross-entropy between the search's visit distribution and the network's move
    distribution, plus the squared error of the value against the game's outcome.
    """

    def __init__(self, game, hidden: int = 128, learning_rate: float = 1e-3):
        self.game = game
        self.model = build_network(game, hidden)
        self.optimizer = keras.optimizers.Adam(learning_rate)
        self.optimizer.build(self.model.trainable_variables)
        self.evaluator = NetworkEvaluator(self.model)

    @tf.function
    def _train_step(self, states, policies, outcomes):
        with tf.GradientTape() as tape:
            logits, value = self.model(states, training=True)
            policy_loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(policies, logits))
            value_loss = tf.reduce_mean(tf.square(outcomes - value[:, 0]))
            loss = policy_loss + value_loss
        grads = tape.gradient(loss, self.model.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables))
        return loss, policy_loss, value_loss

    def update(self, states, policies, outcomes) -> tuple[float, float, float]:
        out = self._train_step(tf.convert_to_tensor(states, tf.float32), tf.convert_to_tensor(policies, tf.float32),
                               tf.convert_to_tensor(outcomes, tf.float32))
        self.evaluator.clear()
        return tuple(float(v) for v in out)


def train_alphazero(cfg, run, verbose) -> dict:
    game = load_game(cfg.dataset)
    agent = AlphaZeroAgent(game, cfg.hidden, cfg.learning_rate)
    rng = np.random.default_rng(cfg.seed)
    mcts = MCTS(agent.evaluator, cfg.simulations, cfg.c_puct, cfg.dirichlet_alpha, seed=cfg.seed)
    window = 20 * cfg.games_per_iteration  # games whose positions are trained on
    path = os.path.join(run.checkpoints, "state.npz")
    games, game_lengths = 0, []
    memory = {"states": np.zeros((0, *input_shape(game)), np.float32),
              "policies": np.zeros((0, game.num_distinct_actions()), np.float32),
              "outcomes": np.zeros(0, np.float32), "game_ids": np.zeros(0, np.int64)}
    restored = load_state(path, {"net": agent.model}, {"adam": agent.optimizer})
    logs = None
    if restored is not None:
        memory, meta = restored
        games, logs = meta["games"], meta["logs"]
        rng.bit_generator.state = meta["rng"]
        mcts.rng.bit_generator.state = meta["mcts_rng"]
        if verbose:
            print(f"resuming after {games} self-play games", flush=True)
    rewind_logs(run.logs, logs)  # what a killed run logged after its last checkpoint goes
    writer = tf.summary.create_file_writer(run.logs)
    every = max(1, cfg.checkpoint_every // 100)
    start, first = time.perf_counter(), games
    searches, self_play_seconds = 0, 0.0  # of this process: the speed figures count what ran after a restart
    while games < cfg.total_steps:
        batch = min(cfg.games_per_iteration, cfg.total_steps - games)
        new = {"states": [], "policies": [], "outcomes": [], "game_ids": []}
        first_player = []
        began = time.perf_counter()
        played = self_play_games(game, mcts, batch, cfg.temperature_moves, rng, cfg.random_opening_moves)
        self_play_seconds += time.perf_counter() - began
        for states, policies, outcomes in played:
            searches += len(states)
            if not states:
                continue
            new["states"] += states
            new["policies"] += policies
            new["outcomes"] += outcomes
            new["game_ids"] += [games] * len(states)
            first_player.append(outcomes[0])
            game_lengths.append(len(states))
            games += 1
        for key in memory:
            memory[key] = np.concatenate([memory[key], np.asarray(new[key], memory[key].dtype)])
        keep = memory["game_ids"] > games - window
        memory = {key: value[keep] for key, value in memory.items()}
        losses = []
        n = len(memory["outcomes"])
        for _ in range(cfg.train_steps_per_iteration):
            index = rng.integers(0, n, size=min(cfg.batch_size, n))
            losses.append(agent.update(memory["states"][index], memory["policies"][index],
                                       memory["outcomes"][index]))
        losses = np.asarray(losses)
        if not np.all(np.isfinite(losses)):
            raise TrainingDiverged(f"training diverged: the AlphaZero loss became NaN/inf after {games} games; "
                                   f"lower learning_rate (now {cfg.learning_rate:g})")
        with writer.as_default(step=games):
            tf.summary.scalar("loss", losses[:, 0].mean())
            tf.summary.scalar("policy_loss", losses[:, 1].mean())
            tf.summary.scalar("value_loss", losses[:, 2].mean())
            tf.summary.scalar("episode_return", float(np.mean(first_player)))  # first player's mean outcome
            tf.summary.scalar("game_length", float(np.mean(game_lengths[-batch:])))
        if games % every < batch or games >= cfg.total_steps:  # between iterations: nothing else is under way
            writer.flush()
            save_state(path, {"net": agent.model}, {"adam": agent.optimizer}, memory,
                       {"games": games, "rng": rng.bit_generator.state, "mcts_rng": mcts.rng.bit_generator.state,
                        "logs": log_marks(run.logs)})
        if verbose:
            print(f"games {games}/{cfg.total_steps}  loss {losses[:, 0].mean():.3f} (policy {losses[:, 1].mean():.3f}, "
                  f"value {losses[:, 2].mean():.3f})  first player's mean outcome {np.mean(first_player):+.2f}",
                  flush=True)
    writer.flush()
    seconds = time.perf_counter() - start
    speed = {"simulations_per_second": round(searches * cfg.simulations / max(self_play_seconds, 1e-9), 1),
             "games_per_minute": round(60 * (games - first) / max(seconds, 1e-9), 2),
             "self_play_seconds": round(self_play_seconds, 2), "train_loop_seconds": round(seconds, 2)}
    return {"model": agent.model, "agent": agent, "episodes": games,
            "steps_per_second": (games - first) / max(seconds, 1e-9), "speed": speed}


# --- opponents and evaluation ----------------------------------------------------------------------

class RandomPlayer:
    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def __call__(self, state) -> int:
        return int(self.rng.choice(state.legal_actions()))


class MinimaxPlayer:
    """Perfect play by exhaustive search (small games only), choosing at random among the best moves."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.memo: dict[str, float] = {}

    def value(self, state) -> float:
        """The game's value for the player to move under perfect play (terminal: for player 0)."""
        key = state.history_str()
        if key not in self.memo:
            player = state.current_player()
            values = []
            for action in state.legal_actions():
                child = state.child(action)
                values.append(child.returns()[player] if child.is_terminal() else -self.value(child))
            self.memo[key] = max(values)
        return self.memo[key]

    def __call__(self, state) -> int:
        player = state.current_player()
        scores = {}
        for action in state.legal_actions():
            child = state.child(action)
            scores[action] = child.returns()[player] if child.is_terminal() else -self.value(child)
        best = max(scores.values())
        return int(self.rng.choice([a for a, s in scores.items() if s >= best - 1e-9]))


class MCTSPlayer:
    """The most visited move of a search; `move_steps` is that as a generator (see `MCTS.search_steps`)."""

    def __init__(self, mcts: MCTS):
        self.mcts = mcts

    def __call__(self, state) -> int:
        return self.mcts.best_action(state)

    def move_steps(self, state):
        visits = yield from self.mcts.search_steps(state)
        return max(visits, key=visits.get)


def open_spiel_mcts_bot(game, simulations: int, seed: int):
    """open_spiel's MCTS bot (UCT with random rollouts), as a player function."""
    from open_spiel.python.algorithms import mcts

    bot = mcts.MCTSBot(game, 2.0, simulations, mcts.RandomRolloutEvaluator(1, np.random.RandomState(seed)),
                       random_state=np.random.RandomState(seed), solve=True)
    return lambda state: bot.step(state)


def play_match(game, player, opponent, games: int) -> dict:
    """`player` against `opponent`, alternating who starts: wins, draws and losses of `player`. With an
    `MCTSPlayer` the games are played side by side, its searches sharing network calls (`run_searches`)."""
    def play(g):
        seat = g % 2  # `player` is player 0 in even games
        state = game.new_initial_state()
        while not state.is_terminal():
            if state.current_player() != seat:
                action = opponent(state)
            elif isinstance(player, MCTSPlayer):
                action = yield from player.move_steps(state)
            else:
                action = player(state)
            state.apply_action(action)
        return state.returns()[seat]

    evaluator = player.mcts.evaluator if isinstance(player, MCTSPlayer) else None
    results = np.asarray(run_searches([play(g) for g in range(games)], evaluator))
    return {"wins": int((results > 0).sum()), "draws": int((results == 0).sum()), "losses": int((results < 0).sum()),
            "games": games}


def _rates(prefix: str, result: dict) -> dict:
    n = result["games"]
    return {f"win_rate_vs_{prefix}": result["wins"] / n, f"draw_rate_vs_{prefix}": result["draws"] / n,
            f"losses_vs_{prefix}": result["losses"]}


def evaluate_alphazero(model, cfg) -> dict:
    """The trained agent (MCTS guided by `model`, no noise) against a random player, open_spiel's MCTS bot
    and, for tic-tac-toe, perfect play; each over `eval_episodes` games, alternating who starts."""
    game = load_game(cfg.dataset)
    agent = MCTSPlayer(MCTS(NetworkEvaluator(model), cfg.simulations, cfg.c_puct, seed=cfg.seed))
    out = _rates("random", play_match(game, agent, RandomPlayer(cfg.seed), cfg.eval_episodes))
    out |= _rates("mcts", play_match(game, agent, open_spiel_mcts_bot(game, cfg.mcts_bot_simulations, cfg.seed),
                                     cfg.eval_episodes))
    if cfg.dataset == "tic_tac_toe":
        out |= _rates("minimax", play_match(game, agent, MinimaxPlayer(cfg.seed), cfg.eval_episodes))
    return out


def baseline_results(cfg) -> dict:
    """Reference players on the same opponents: random vs random, and open_spiel's MCTS bot vs random (and
    vs perfect play for tic-tac-toe)."""
    game = load_game(cfg.dataset)
    bot = open_spiel_mcts_bot(game, cfg.mcts_bot_simulations, cfg.seed + 1)
    rand = _rates("random", play_match(game, RandomPlayer(cfg.seed + 2), RandomPlayer(cfg.seed), cfg.eval_episodes))
    mcts_bot = _rates("random", play_match(game, bot, RandomPlayer(cfg.seed), cfg.eval_episodes))
    if cfg.dataset == "tic_tac_toe":
        rand |= _rates("minimax", play_match(game, RandomPlayer(cfg.seed + 2), MinimaxPlayer(cfg.seed),
                                             cfg.eval_episodes))
        mcts_bot |= _rates("minimax", play_match(game, bot, MinimaxPlayer(cfg.seed), cfg.eval_episodes))
    return {"random_player": rand, f"mcts_bot_{cfg.mcts_bot_simulations}": mcts_bot}


# --- a person against the agent ---------------------------------------------------------------------

def play_in_terminal(model, cfg, human_first: bool = True, read=input, write=print) -> str:
    """A game in the terminal: the person types a move (its number or its name, as listed); an illegal or
    unreadable move is refused and asked again. Returns the result line."""
    game = load_game(cfg.dataset)
    agent = MCTSPlayer(MCTS(NetworkEvaluator(model), cfg.simulations, cfg.c_puct, seed=cfg.seed))
    human = 0 if human_first else 1
    state = game.new_initial_state()
    while not state.is_terminal():
        write(f"\n{state}\n")
        player = state.current_player()
        if player == human:
            action = _ask_move(state, read, write)
        else:
            action = agent(state)
            write(f"agent plays {state.action_to_string(player, action)} ({action})")
        state.apply_action(action)
    write(f"\n{state}\n")
    result = state.returns()[human]
    return "you win" if result > 0 else "draw" if result == 0 else "the agent wins"


def _ask_move(state, read, write) -> int:
    player = state.current_player()
    legal = {state.action_to_string(player, a): a for a in state.legal_actions()}
    listing = ", ".join(f"{a}={name}" for name, a in legal.items())
    while True:
        try:
            text = read(f"your move ({listing}): ").strip()
        except EOFError:
            raise UsageError("input ended before the game did") from None
        if text in legal:
            return legal[text]
        if text.lstrip("-").isdigit() and int(text) in legal.values():
            return int(text)
        write(f"illegal move {text!r}: choose one of {listing}")
