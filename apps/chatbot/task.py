"""Chatbot: translation's encoder–decoders (or a KerasHub `Seq2SeqLM` preset) trained on (context, reply) pairs,
decoded incrementally, with a TF-IDF retrieval fallback where the model is unsure; perplexity and reply BLEU/chrF
against retrieval."""

from __future__ import annotations

import collections
import hashlib
import json
import math
import sys
import time

import numpy as np

from apps.chatbot.config import ChatbotConfig, parse_fallback
from apps.chatbot.data import ChatterbotCorpus, load_dialogs
from apps.chatbot.decoding import IncrementalReplier, best_threshold, with_fallback
from apps.chatbot.spec import SPEC
from apps.translation.task import Translation
from common.errors import UsageError
from common.seq2seq.baseline import retrieval_translations, translation_scores
from common.seq2seq.data import ParallelData
from common.seq2seq.model import model_max_length, model_vocabularies
from common.seq2seq.tokens import encode_targets, tokenize
from common.seq2seq.training import markdown_cell, teacher_forced_scores

QUIT = ("quit", "exit")


def vocabulary_digest(source_vocabulary: list[str], target_vocabulary: list[str]) -> str:
    """A short fingerprint of a model's two vocabularies, recorded with the run and checked when it is loaded.

    Example:
        >>> len(vocabulary_digest(["", "[UNK]", "hi"], ["", "[UNK]", "[start]", "[end]", "hello"]))
        16
    """
    text = json.dumps([source_vocabulary, target_vocabulary], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def unigram_perplexity(train_replies: list[str], replies: list[str], vocabulary: list[str], max_length: int,
                       add: float = 1.0) -> float:
    """Perplexity of an add-`add` smoothed unigram model of reply tokens, on the model's tokens and vocabulary.

    The same stream the model's perplexity is measured on: each reply's words (out-of-vocabulary
    ones as '[UNK]') and its '[end]', cut to `max_length` tokens; the context is not used. A model
    that learned nothing from the context or from word order scores about this.

    Example:
        >>> round(unigram_perplexity(["a a b"], ["a b"], ["", "[UNK]", "[start]", "[end]", "a", "b"], 8), 2)
        4.17
    """
    counts = collections.Counter()
    for split in (train_replies, replies):
        _, labels, _ = encode_targets(split, vocabulary, max_length)
        if split is train_replies:
            counts.update(labels[labels != 0].tolist())
        else:
            test_ids = labels[labels != 0]
    words = len(vocabulary) - 3  # padding and [start] are never predicted; [UNK] and [end] are
    total = sum(counts.values()) + add * words
    log_probs = np.log([(counts[int(i)] + add) / total for i in test_ids])
    return float(np.exp(-log_probs.mean()))


class Chatbot(Translation):
    """Translation's task with contexts as sources and replies as targets, plus the retrieval fallback and `chat`."""

    spec = SPEC  # name, description, config, models, actions: what the CLI shows without TensorFlow
    name = SPEC.name
    config_class = SPEC.config_class
    embedded_datasets = (ChatterbotCorpus,)
    monitor = "val_loss"
    primary_metric = ("bleu", "higher", ".2f")
    benchmark_rows = (("chatbot-chatterbot_corpus-transformer", {"model": "transformer"}),)

    # --- data -------------------------------------------------------------------------------
    def read_pairs(self, cfg: ChatbotConfig) -> ParallelData:
        # Translation's `load_data` then leaves out training pairs longer than the model's context and
        # learns the vocabularies from the training pairs.
        return load_dialogs(cfg.dataset, language=cfg.language, data_dir=cfg.data_dir, seed=cfg.seed)

    def data_summary(self, data: ParallelData) -> dict:
        summary = {"sizes": data.sizes, "dataset": data.name, "context_vocabulary_size": len(data.source_vocabulary),
                   "reply_vocabulary_size": len(data.target_vocabulary),
                   "vocabulary_digest": vocabulary_digest(data.source_vocabulary, data.target_vocabulary),
                   "long_training_pairs_left_out": data.left_out, **self._preset_summary(data)}
        if getattr(data, "fallback_threshold", None) is not None:  # chosen by `evaluate`
            summary["fallback_threshold"] = data.fallback_threshold
        return summary

    # --- evaluation -------------------------------------------------------------------------
    def _threshold(self, cfg: ChatbotConfig, data: ParallelData, replier: IncrementalReplier) -> tuple[float, dict]:
        """The fallback threshold: the configured one, or ("auto") the one with the best validation BLEU."""
        n = cfg.eval_sentences or None
        contexts, references = data.sources["validation"][:n], data.targets["validation"][:n]
        replies, confidence = replier.replies(contexts)
        retrieved = retrieval_translations(data.sources["train"], data.targets["train"], contexts)
        threshold, scores = best_threshold(replies, confidence, retrieved, references,
                                           lambda h, r: translation_scores(h, r)["bleu"])
        fixed = parse_fallback(cfg.fallback)
        if fixed is not None:
            threshold = fixed
        chosen = with_fallback(replies, confidence, retrieved, threshold)
        return threshold, {"validation_bleu": scores[-math.inf], "validation_bleu_retrieval": scores[math.inf],
                           "validation_bleu_fallback": translation_scores(chosen, references)["bleu"]}

    def evaluate(self, model, cfg: ChatbotConfig, data: ParallelData, inputs) -> dict:
        """Teacher-forced perplexity on the test replies; BLEU and chrF of greedy, beam-search and fallback replies."""
        preset = self._preset_translator(model, cfg)
        if preset is None:
            coverage = self._check_vocabulary(model, data)
            metrics = teacher_forced_scores(model, data.sources["test"], data.targets["test"])
            replier = IncrementalReplier(model)
        else:  # a preset: perplexity per word token, its own tokens' beside it (`common.seq2seq.preset`)
            from common.seq2seq.preset import preset_scores

            coverage, replier = {}, preset
            metrics = preset_scores(model, data.sources["test"], data.targets["test"], cfg.batch_size)
        threshold, validation = self._threshold(cfg, data, replier)
        contexts, references = self._test_sentences(cfg, data)
        start = time.perf_counter()
        greedy, confidence = replier.replies(contexts)
        greedy_seconds = time.perf_counter() - start
        start = time.perf_counter()
        beam = replier.translate(contexts, beam_size=cfg.beam_size, length_penalty=cfg.length_penalty)
        beam_seconds = time.perf_counter() - start
        retrieved = retrieval_translations(data.sources["train"], data.targets["train"], contexts)
        fallback = with_fallback(greedy, confidence, retrieved, threshold)
        data.fallback_threshold = threshold if math.isfinite(threshold) else ("off" if threshold < 0 else "always")
        scores, beam_scores = translation_scores(greedy, references), translation_scores(beam, references)
        fallback_scores = translation_scores(fallback, references)
        long = sum(length > replier.max_length for length in self._context_lengths(replier, contexts))
        return {**scores, "bleu_beam": beam_scores["bleu"], "chrf_beam": beam_scores["chrf"],
                "bleu_fallback": fallback_scores["bleu"], "chrf_fallback": fallback_scores["chrf"],
                "fallback_threshold": data.fallback_threshold,
                "fallback_share": round(float(np.mean(confidence < threshold)), 4), **validation, **metrics,
                "sentences": len(contexts), "beam_size": cfg.beam_size, "truncated_contexts": long,
                "distinct_replies": len(set(greedy)), "greedy_seconds": round(greedy_seconds, 2),
                "beam_seconds": round(beam_seconds, 2), **coverage}

    def baselines(self, cfg: ChatbotConfig, data: ParallelData) -> dict:
        """Retrieval (the training reply of the most similar training context, TF-IDF cosine) on the same test
        pairs, and an add-one unigram model's perplexity on the model's reply tokens."""
        contexts, references = self._test_sentences(cfg, data)
        retrieved = retrieval_translations(data.sources["train"], data.targets["train"], contexts)
        unigram = unigram_perplexity(data.targets["train"], data.targets["test"], data.target_vocabulary,
                                     cfg.max_length)
        return {"retrieval": translation_scores(retrieved, references), "unigram": {"perplexity": unigram}}

    def text_examples(self, model, cfg: ChatbotConfig, data: ParallelData, split="test") -> dict:
        """The first `examples` contexts of the split with the reference reply, the model's greedy reply and its
        confidence (and, at the end of training, beam search's and retrieval's)."""
        if not cfg.examples:
            return {}
        # Spread over the split: neighbouring pairs often share their context.
        step = max(1, len(data.sources[split]) // cfg.examples)
        pick = list(range(0, len(data.sources[split]), step))[: cfg.examples]
        contexts = [data.sources[split][i] for i in pick]
        references = [data.targets[split][i] for i in pick]
        replier = self._preset_translator(model, cfg) or IncrementalReplier(model)
        greedy, confidence = replier.replies(contexts)
        if split != "test":  # during training: greedy only, to keep the epochs short
            rows = ["| context | reference | greedy (confidence) |", "|---|---|---|"]
            rows += [f"| {markdown_cell(c)} | {markdown_cell(r)} | {markdown_cell(g)} ({s:.2f}) |"
                     for c, r, g, s in zip(contexts, references, greedy, confidence)]
            return {"replies": "\n".join(rows)}
        beam = replier.translate(contexts, beam_size=cfg.beam_size, length_penalty=cfg.length_penalty)
        retrieved = retrieval_translations(data.sources["train"], data.targets["train"], contexts)
        rows = [f"| context | reference | greedy (confidence) | beam {cfg.beam_size} | retrieval |",
                "|---|---|---|---|---|"]
        rows += [f"| {markdown_cell(c)} | {markdown_cell(r)} | {markdown_cell(g)} ({s:.2f}) | {markdown_cell(b)} "
                 f"| {markdown_cell(t)} |"
                 for c, r, g, s, b, t in zip(contexts, references, greedy, confidence, beam, retrieved)]
        return {"replies": "\n".join(rows)}

    @staticmethod
    def _context_lengths(replier, contexts: list[str]) -> list[int]:
        """Tokens of each context as the model reads them: a preset's own, else the suite's words."""
        if hasattr(replier, "source_lengths"):
            return replier.source_lengths(contexts)
        return [len(tokens) for tokens in tokenize(contexts)]

    # --- serving ----------------------------------------------------------------------------
    def _check_model(self, model, summary: dict) -> None:
        """A UsageError where the model's vocabularies are not the ones its run recorded (a model file swapped);
        a preset's model has its own tokenizer, not these vocabularies."""
        from common.seq2seq.preset import is_seq2seq_lm

        if is_seq2seq_lm(model):
            return
        recorded = summary.get("vocabulary_digest")
        actual = vocabulary_digest(*model_vocabularies(model))
        if recorded and recorded != actual:
            raise UsageError(f"the model's vocabulary (digest {actual}) does not match the one its run recorded in "
                             f"metrics.json (digest {recorded}): model.keras comes from another run or data")

    def _messages(self, model, messages: list[str], where: str, first: int = 1, preset=None) -> list[str]:
        """Checks messages (not empty, UTF-8) and warns on stderr about ones longer than the model's context;
        `where` and the numbers from `first` name them in the messages (`preset`: a preset's `PresetTranslator`,
        which counts its own tokens)."""
        for number, text in enumerate(messages, start=first):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise UsageError(f"{where} {number} is not UTF-8 text") from None
            if not text.strip():
                raise UsageError(f"{where} {number} is empty: give some text to reply to")
        if preset is not None:
            for number, length in enumerate(preset.source_lengths(messages), start=first):
                if length > preset.max_length:
                    print(f"dlsuite: warning: {where} {number} has {length} tokens of the preset; it reads only the "
                          f"first {preset.max_length} and replies to those", file=sys.stderr)
            return messages
        max_length = model_max_length(model)
        for number, tokens in enumerate(tokenize(messages), start=first):
            if len(tokens) > max_length:
                print(f"dlsuite: warning: {where} {number} has {len(tokens)} tokens; the model reads only the first "
                      f"{max_length} (max_length) and replies to those", file=sys.stderr)
        return messages

    def _responder(self, model, cfg: ChatbotConfig, summary: dict, beam_size: int, fallback: str | None):
        """A function from messages to (replies, confidences, used-retrieval flags)."""
        self._check_model(model, summary)
        replier = self._preset_translator(model, cfg) or IncrementalReplier(model)
        threshold = parse_fallback(fallback) if fallback is not None else summary.get("fallback_threshold", "off")
        if threshold is None:  # "auto" outside training: the run's measured threshold
            threshold = summary.get("fallback_threshold", "off")
        threshold = {"off": -math.inf, "always": math.inf}.get(threshold, threshold)
        data = self.load_data(cfg) if threshold > -math.inf else None

        def respond(messages: list[str]):
            replies, confidence = replier.replies(messages, beam_size=beam_size, length_penalty=cfg.length_penalty)
            if data is None:
                return replies, confidence, [False] * len(replies)
            retrieved = retrieval_translations(data.sources["train"], data.targets["train"], messages)
            return with_fallback(replies, confidence, retrieved, threshold), confidence, list(confidence < threshold)

        return respond

    def serving_outputs(self, cfg, outputs, summary: dict):
        """The exported model returns `logits`: next-word logits of one decoding step, from `source` strings
        (`[n]` or `[n, 1]`) and the `target` ids so far."""
        return outputs if isinstance(outputs, dict) else {"logits": outputs}

    def predict(self, model, cfg: ChatbotConfig, summary: dict, inputs: list[str]) -> list[dict]:
        """The reply to each message (beam search of `beam_size`, with the run's fallback), its confidence and
        where it comes from."""
        if inputs == ["-"]:
            inputs = read_lines(sys.stdin)
        if not inputs:
            raise UsageError('predict needs messages: dlsuite chatbot predict --run DIR "Hello" (or - for stdin lines)')
        preset = self._preset_translator(model, cfg)
        messages = self._messages(model, inputs, "message", preset=preset)
        replies, confidence, retrieved = self._responder(model, cfg, summary, cfg.beam_size, None)(messages)
        return [{"message": m, "reply": r, "confidence": round(float(s), 4), "from": "retrieval" if f else "model"}
                for m, r, s, f in zip(messages, replies, confidence, retrieved)]

    def run_action(self, name: str, model, cfg: ChatbotConfig, summary: dict, args) -> str | None:
        """`chat`: the replies to the messages given (one per line), or, reading stdin, each reply printed as it
        comes (then None: nothing is left to print)."""
        if args.beam_size < 1:
            raise UsageError(f"--beam-size must be >= 1, got {args.beam_size}")
        preset = self._preset_translator(model, cfg)
        if args.messages:
            respond = self._responder(model, cfg, summary, args.beam_size, args.fallback)
            replies = respond(self._messages(model, args.messages, "message", preset=preset))[0]
            return "\n".join(_one_line(reply) for reply in replies)
        stdin = sys.stdin
        interactive = stdin.isatty()
        respond = self._responder(model, cfg, summary, args.beam_size, args.fallback)
        if interactive:
            print("chatbot ready: type a message, 'quit' or Ctrl-D to stop", file=sys.stderr)
        for number, line in enumerate(_raw_lines(stdin, interactive), start=1):
            text = _decode(line, number)
            if text.strip().lower() in QUIT:
                break
            if interactive and not text.strip():
                print("(empty message: type some text, or quit)", file=sys.stderr)
                continue
            reply = respond(self._messages(model, [text], "line", first=number, preset=preset))[0][0]
            reply = _one_line(reply)
            print(f"bot> {reply}" if interactive else reply, flush=True)
        return None


def _one_line(reply: str) -> str:
    """A reply on one line (a preset's tokenizer can decode line breaks), so replies and messages pair by line."""
    return " ".join(reply.splitlines())


def _raw_lines(stdin, interactive: bool):
    """Lines of stdin as bytes (without the newline); a prompt before each on a terminal."""
    buffer = getattr(stdin, "buffer", None)
    while True:
        if interactive:
            print("you> ", end="", file=sys.stderr, flush=True)
        line = buffer.readline() if buffer is not None else stdin.readline().encode("utf-8", "surrogateescape")
        if not line:
            return
        yield line.rstrip(b"\r\n")


def _decode(line: bytes, number: int) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"line {number} of stdin is not UTF-8 text (byte {exc.start}: "
                         f"{line[exc.start:exc.start + 1]!r})") from None


def read_lines(stdin) -> list[str]:
    """The non-blank lines of stdin, decoded as UTF-8 (a UsageError names the first line that is not)."""
    return [text for number, line in enumerate(_raw_lines(stdin, False), start=1)
            if (text := _decode(line, number)).strip()]
