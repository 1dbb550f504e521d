"""Training data: dataset rows -> chat template -> token ids with the prompt masked -> batches.

Rows come from a Hearth dataset version (``engine.datasets``: its train split, and its validation
split when it has one) or, for scripts, from a JSONL file in any format ``engine.datasets.formats``
detects. Each conversation is rendered with the chat template the model will be chatted with, cut
into segments (prompt text, answer text) by rendering each prefix, and tokenized segment by
segment, so the labels of every prompt token are -100 and only the answers are learned -- the
same split of text as at chat time, where the prompt ends with the generation prompt.

End of turn: a template whose turns end with a special token (``<|im_end|>``, ``<end_of_turn>``)
teaches that token as part of each answer. A template without one (the plain transcript used for
base models such as the bundled Gemma) gets the tokenizer's end-of-sequence token after each
answer, so the trained model stops there in llama.cpp too. ``Encoder.eot_token`` is what the GGUF
export writes as the end-of-turn token.

Length limits: a row longer than ``seq_len`` is cut; a row left with no answer tokens is dropped,
and a dataset left with no rows is refused with the counts of why. Batches come from
``BatchOrder``: a seeded shuffle per epoch, optionally grouped by length (less padding), or rows
packed into full-length blocks (``packing``; the attention stays within each row because every
row restarts its position ids, which transformers turns into a block-diagonal mask). The order is
a pure function of (seed, epoch, step), so a resumed run sees exactly the batches it would have.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError

if TYPE_CHECKING:
    from engine.services import Services

IGNORE = -100
Encode = Callable[[str], list[int]]


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]

    @property
    def learned(self) -> int:
        """Tokens whose prediction is trained (the first token is never predicted)."""
        return sum(1 for t in self.labels[1:] if t != IGNORE)


@dataclass
class Report:
    rows: int = 0
    kept: int = 0
    truncated: int = 0
    too_long: int = 0  # cut to seq_len, nothing of the answer left
    empty: int = 0  # nothing to learn (empty answer or text)
    template_failed: int = 0
    not_split: int = 0  # the template could not be split into prompt and answer
    tokens: int = 0
    learned_tokens: int = 0
    longest: int = 0
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["reasons"] = self.reasons[:5]
        return out

    def causes(self, seq_len: int) -> list[str]:
        parts = []
        if self.too_long:
            parts.append(
                f"{self.too_long} longer than seq_len {seq_len} before their answer starts "
                "(raise seq_len or shorten the prompts)"
            )
        if self.empty:
            parts.append(f"{self.empty} with nothing to learn (an empty answer or text)")
        if self.template_failed:
            parts.append(f"{self.template_failed} the chat template could not render")
        return parts

    def refusal(self, seq_len: int, what: str = "training", unit: str = "rows") -> str:
        detail = "; ".join(self.causes(seq_len)) or "the dataset has no rows"
        return (
            f"No {what} {unit} are left after applying the chat template and the length limit: "
            f"of {self.rows} {unit}, {detail}."
        )


# -- reading rows --------------------------------------------------------------------------
@dataclass
class Rows:
    """A dataset's rows for training, as conversations (list of messages) or plain texts."""

    name: str
    format: str
    train: list[Any]
    validation: list[Any]
    source: dict[str, Any]


def conversation(row: dict[str, Any], fmt: str) -> Any:
    """A row as a list of ``{role, content}`` messages, or a ``str`` for plain text rows."""
    from engine.datasets import formats

    if fmt == "text":
        return str(row.get("text") or "")
    return formats.to_chat(row, fmt)


def load_rows(
    services: Services,
    dataset: str,
    *,
    version: int | None = None,
    split: str | None = None,
    validation_split: str | None = None,
    validation_fraction: float = 0.0,
    seed: int = 0,
    pairs: bool = False,
) -> Rows:
    """The training and validation conversations of a dataset (id or name) or a JSONL file;
    with ``pairs``, (chosen, rejected) conversations of a preference dataset."""
    path = Path(str(dataset)).expanduser()
    lib = _library(services)
    found = None
    try:
        found = lib.get(dataset)
    except UserError:
        if not (path.suffix.lower() in (".jsonl", ".json") and path.is_file()):
            raise
    if found is None:
        fmt, rows = read_jsonl(path)
        train, val = rows, []
        source = {"path": str(path.absolute()), "format": fmt}
        name = path.stem
    else:
        ds, ver = lib.version_of(found["id"], version)
        fmt = ver["format"]
        names = [s["name"] for s in ver.get("splits") or []]
        train_split = split or ("train" if "train" in names else None)
        val_split = validation_split or ("validation" if "validation" in names else None)
        if validation_split and validation_split not in names:
            raise UserError(
                f"{ds['name']} has no {validation_split!r} split"
                + (f"; it has {', '.join(names)}." if names else "; split it first.")
            )
        if names and train_split is None:
            raise UserError(
                f"{ds['name']} is split into {', '.join(names)} but has no 'train' split, so "
                "training would use every row, the validation rows included. Name the split to "
                "train on, or split it again with a training part."
            )
        if val_split is not None and val_split == train_split:
            raise UserError(
                f"The {train_split!r} split would be both trained on and evaluated on; choose "
                "another validation split (or none)."
            )
        train = _read_split(lib, ds, ver, train_split)
        val = _read_split(lib, ds, ver, val_split) if val_split else []
        source = {"dataset_id": ds["id"], "version": ver["version"], "split": train_split,
                  "validation_split": val_split, "format": fmt}  # fmt: skip
        name = ds["name"]
    if pairs:
        refuse_format(name, fmt)
        convs, val_convs = [pair_of(r) for r in train], [pair_of(r) for r in val]
    else:
        if fmt == "preference":
            source["note"] = "preference rows train on their chosen reply"
        convs = [conversation(r, fmt) for r in train]
        val_convs = [conversation(r, fmt) for r in val]
    if not val_convs and validation_fraction > 0 and len(convs) >= 4:
        order = list(range(len(convs)))
        random.Random(seed).shuffle(order)
        n_val = max(1, round(len(convs) * validation_fraction))
        held = set(order[:n_val])
        val_convs = [c for i, c in enumerate(convs) if i in held]
        convs = [c for i, c in enumerate(convs) if i not in held]
        source["validation_held_out"] = n_val
    return Rows(name, fmt, convs, val_convs, source)


def refuse_format(name: str, fmt: str) -> None:
    if fmt != "preference":
        raise UserError(
            f"DPO and ORPO learn from preference pairs: rows with a prompt, a chosen reply and a "
            f"rejected reply. {name} is a {fmt} dataset, with no rejected replies. Import a "
            "preference dataset (JSONL rows with prompt, chosen and rejected), generate pairs in "
            "Datasets (Generate > preference pairs), or train it with the objective sft."
        )


def pair_of(row: dict[str, Any]) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """A canonical preference row as (chosen conversation, rejected conversation)."""
    from engine.datasets.formats import to_chat

    return to_chat(row, "preference"), to_chat({**row, "chosen": row["rejected"]}, "preference")


def _library(services: Services) -> Any:
    from engine.datasets.library import DatasetLibrary

    return DatasetLibrary(services)


def _read_split(lib: Any, ds: dict, ver: dict, split: str | None) -> list[dict[str, Any]]:
    start, stop = 0, ver["rows"]
    if split:
        for s in ver.get("splits") or []:
            if s["name"] == split:
                start, stop = s["start"], s["start"] + s["rows"]
                break
        else:
            names = [s["name"] for s in ver.get("splits") or []]
            raise UserError(
                f"{ds['name']} has no {split!r} split"
                + (f"; it has {', '.join(names)}." if names else "; split it first.")
            )
    with lib.reader(ds["id"], ver["version"]) as reader:
        return [row for _pos, row in reader.iter_rows(start, stop)]


def read_jsonl(path: Path) -> tuple[str, list[dict[str, Any]]]:
    """Rows of a JSONL (or JSON list) file in alpaca, sharegpt, messages, preference or text form."""
    from engine.datasets import formats

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    raw: list[Any]
    if path.suffix.lower() == ".json" and text.lstrip().startswith("["):
        raw = json.loads(text)
    else:
        raw = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                raw.append(json.loads(line))
            except ValueError:
                raise UserError(f"{path.name} line {number} is not JSON.") from None
    raw = [r for r in raw if isinstance(r, dict)]
    if not raw:
        raise UserError(f"{path.name} holds no rows.")
    candidates = formats.detect(raw[:200])
    if not candidates:
        raise UserError(
            f"{path.name} is not in a known format (alpaca, sharegpt, messages, preference, "
            "text); import it as a dataset to map its columns."
        )
    best = candidates[0]
    rows = []
    for number, row in enumerate(raw, 1):
        try:
            rows.append(formats.to_canonical(row, best.format, best.mapping))
        except formats.RowError as exc:
            raise UserError(f"{path.name} row {number}: {exc}.") from None
    return best.format, rows


# -- templating and tokenizing -------------------------------------------------------------
class Encoder:
    """Turns conversations into ``Example``s for one tokenizer and chat template."""

    def __init__(
        self,
        encode: Encode,
        template: Any,  # engine.chat.templates.ChatTemplate, or None for text-only data
        *,
        bos_id: int | None,
        eos_id: int | None,
        bos_token: str = "",
        eos_token: str = "",
        add_bos: bool = True,
        train_on_prompt: bool = False,
        model_name: str = "this model",
    ) -> None:
        self.encode = encode
        self.template = template
        self.bos_id = bos_id
        self.eos_id = eos_id
        self.bos_token = bos_token
        self.eos_token = eos_token
        self.add_bos = add_bos and bos_id is not None
        self.train_on_prompt = train_on_prompt
        self.model_name = model_name
        self.eot_token = self._find_eot()

    def _find_eot(self) -> str | None:
        """The template's end-of-turn marker when it is one token; else the EOS (appended)."""
        if self.template is not None:
            for stop in self.template.stop:
                in_source = stop.strip() == stop and stop in self.template.source
                if in_source and len(self.encode(stop)) == 1:
                    return stop
        return None

    @property
    def appends_eos(self) -> bool:
        return self.eot_token is None and self.eos_id is not None

    @property
    def end_of_turn(self) -> str | None:
        """The token that ends an answer in the trained model (written into GGUF metadata)."""
        return self.eot_token or (self.eos_token or None)

    def segments(self, conv: Any) -> tuple[list[tuple[str, bool]], bool]:
        """(text, learned) pieces of a conversation; the bool says the prompt could be masked."""
        if isinstance(conv, str):
            return [(conv, True)], True
        from engine.chat import templates

        def render(msgs: list[dict[str, str]], gen: bool) -> str:
            return templates.render(self.template, msgs, bos_token=self.bos_token,
                                    eos_token=self.eos_token, add_generation_prompt=gen,
                                    model_name=self.model_name)  # fmt: skip

        full = render(conv, False)
        pieces: list[tuple[str, bool]] = []
        pos = 0
        for i, message in enumerate(conv):
            if message["role"] != "assistant":
                continue
            prefix = render(conv[:i], True) if i else ""
            upto = render(conv[: i + 1], False)
            if not (full.startswith(prefix) and full.startswith(upto)) or not (
                pos <= len(prefix) <= len(upto)
            ):
                return [(full, True)], False
            pieces += [(full[pos : len(prefix)], False), (full[len(prefix) : len(upto)], True)]
            pos = len(upto)
        pieces.append((full[pos:], False))
        return [(t, learned) for t, learned in pieces if t], True

    def example(self, conv: Any, seq_len: int, report: Report) -> Example | None:
        """One row as an Example (cut to ``seq_len``), or None with the reason counted."""
        report.rows += 1
        try:
            pieces, split_ok = self.segments(conv)
        except UserError as exc:
            report.template_failed += 1
            if len(report.reasons) < 5:
                report.reasons.append(str(exc))
            return None
        if not split_ok:
            report.not_split += 1
        ids: list[int] = []
        labels: list[int] = []
        first = pieces[0][0] if pieces else ""
        if self.add_bos and not (self.bos_token and first.startswith(self.bos_token)):
            ids.append(self.bos_id)  # type: ignore[arg-type]
            labels.append(IGNORE)
        if isinstance(conv, str):
            any_answer = bool(conv.strip())
        else:
            any_answer = any(m["role"] == "assistant" and str(m["content"]).strip() for m in conv)
        for text, learned in pieces:
            if learned and self.appends_eos:
                body = text.rstrip()
                tail = text[len(body) :]
                tokens = [*self.encode(body), self.eos_id] if body else []
                ids += tokens
                labels += tokens
                if tail:
                    tail_ids = self.encode(tail)
                    ids += tail_ids
                    labels += tail_ids if self.train_on_prompt else [IGNORE] * len(tail_ids)
                continue
            tokens = self.encode(text)
            ids += tokens
            labels += tokens if (learned or self.train_on_prompt) else [IGNORE] * len(tokens)
        if not any_answer:
            report.empty += 1
            return None
        if len(ids) > seq_len:
            report.truncated += 1
            ids, labels = ids[:seq_len], labels[:seq_len]
        example = Example(ids, labels)
        if example.learned == 0:
            report.too_long += 1
            return None
        report.kept += 1
        report.tokens += len(ids)
        report.learned_tokens += example.learned
        report.longest = max(report.longest, len(ids))
        return example

    def examples(self, convs: Iterable[Any], seq_len: int) -> tuple[list[Example], Report]:
        report = Report()
        out = [e for c in convs if (e := self.example(c, seq_len, report)) is not None]
        return out, report


def choose_template(services: Services, model: dict[str, Any], *, option: str | None, own: str | None) -> Any:  # fmt: skip
    """The chat template rows are rendered with: the option, else the model's setting, else auto
    (the model's own template, else the plain transcript) -- what Chat will use with the model."""
    from engine.chat import templates

    choice = option
    if choice is None and model.get("id"):
        from engine.runtimes.settings import ModelSettings

        choice = ModelSettings(services).get(model["id"]).get("template")
    own = own if isinstance(own, str) and own.strip() else None
    return templates.resolve(model, choice=choice, own_template=own)


def hf_encoder(tokenizer: Any, template: Any, *, train_on_prompt: bool, model_name: str) -> Encoder:
    """An Encoder for a transformers tokenizer (what training uses)."""

    def encode(text: str) -> list[int]:
        return list(tokenizer(text, add_special_tokens=False).input_ids)

    probe = tokenizer("a").input_ids
    adds_bos = (
        bool(probe) and tokenizer.bos_token_id is not None and probe[0] == tokenizer.bos_token_id
    )
    return Encoder(
        encode,
        template,
        bos_id=tokenizer.bos_token_id,
        eos_id=tokenizer.eos_token_id,
        bos_token=tokenizer.bos_token or "",
        eos_token=tokenizer.eos_token or "",
        add_bos=adds_bos,
        train_on_prompt=train_on_prompt,
        model_name=model_name,
    )


def prompt_of(conv: Any) -> Any:
    """The prompt part of a row: messages before the first answer, or the start of a text."""
    if isinstance(conv, str):
        words = conv.split()
        return " ".join(words[: max(1, min(12, len(words) // 2))])
    prompt = []
    for message in conv:
        if message["role"] == "assistant":
            break
        prompt.append(message)
    return prompt or [{"role": "user", "content": ""}]


def prompt_ids(encoder: Encoder, prompt: Any) -> list[int]:
    """Token ids that ask the model for an answer to ``prompt`` (text or messages)."""
    from engine.chat import templates

    if isinstance(prompt, str) and encoder.template is not None:
        prompt = [{"role": "user", "content": prompt}]
    if isinstance(prompt, str):
        text = prompt
    else:
        text = templates.render(encoder.template, prompt, bos_token=encoder.bos_token,
                                eos_token=encoder.eos_token, add_generation_prompt=True,
                                model_name=encoder.model_name)  # fmt: skip
    ids = encoder.encode(text)
    if encoder.add_bos and not (encoder.bos_token and text.startswith(encoder.bos_token)):
        ids = [encoder.bos_id, *ids]  # type: ignore[list-item]
    return ids


def counting_encoder(count: Callable[[str], int]) -> Encode:
    """An ``Encode`` that only gets lengths right (for checks without the training tokenizer)."""
    return lambda text: [0] * count(text) if text else []


# -- batching ------------------------------------------------------------------------------
def pack(examples: list[Example], seq_len: int, seed: int) -> list[list[int]]:
    """Example indexes grouped into blocks of at most ``seq_len`` tokens (seeded order)."""
    order = list(range(len(examples)))
    random.Random(seed ^ 0x5EED).shuffle(order)
    blocks: list[list[int]] = []
    current: list[int] = []
    used = 0
    for i in order:
        n = len(examples[i].input_ids)
        if current and used + n > seq_len:
            blocks.append(current)
            current, used = [], 0
        current.append(i)
        used += n
    if current:
        blocks.append(current)
    return blocks


class BatchOrder:
    """Which units (examples, or packed blocks of examples) each micro-batch holds, by number.

    Micro-batch ``m`` is batch ``m % per_epoch`` of epoch ``m // per_epoch``; each epoch's batches
    are a seeded shuffle (grouped by length when asked), so any step can be rebuilt on resume.
    """

    def __init__(self, lengths: list[int], batch_size: int, *, seed: int, group_by_length: bool) -> None:  # fmt: skip
        if not lengths:
            raise UserError("There are no training rows.")
        self.lengths = lengths
        self.batch_size = batch_size
        self.seed = seed
        self.group_by_length = group_by_length
        self.per_epoch = math.ceil(len(lengths) / batch_size)
        self._cache: dict[int, list[list[int]]] = {}

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        if epoch not in self._cache:
            rng = random.Random(self.seed * 1_000_003 + epoch)
            order = list(range(len(self.lengths)))
            rng.shuffle(order)
            bs = self.batch_size
            if self.group_by_length:
                mega = bs * 16
                batches = []
                for start in range(0, len(order), mega):
                    chunk = sorted(order[start : start + mega], key=lambda j: -self.lengths[j])
                    batches += [chunk[i : i + bs] for i in range(0, len(chunk), bs)]
                rng.shuffle(batches)
            else:
                batches = [order[i : i + bs] for i in range(0, len(order), bs)]
            self._cache = {epoch: batches}  # one epoch at a time is all a run needs
        return self._cache[epoch]

    def batch(self, micro: int) -> list[int]:
        return self.epoch_batches(micro // self.per_epoch)[micro % self.per_epoch]


def total_steps(per_epoch: int, accum: int, *, epochs: float, max_steps: int) -> int:
    if max_steps:
        return max_steps
    return max(1, math.ceil(per_epoch * epochs / accum))


@dataclass
class Batch:
    """Tensors of one micro-batch; ``learned`` = predicted tokens with a label."""

    input_ids: Any  # (B, T)
    labels: Any  # (B, T)
    attention_mask: Any  # (B, T) or None when packed
    position_ids: Any  # (B, T) or None
    learned: int
    tokens: int  # real (not padding) tokens
    index: Any = None  # preference batches: the pairs' positions in their reference table


def collate(
    examples: list[Example], units: list[list[int]] | None, picks: list[int], *, pad_id: int
) -> Batch:
    """The tensors of the micro-batch made of units ``picks`` (examples, or packed blocks)."""
    import torch

    rows: list[tuple[list[int], list[int], list[int] | None]] = []
    for unit in picks:
        if units is None:
            ex = examples[unit]
            rows.append((ex.input_ids, ex.labels, None))
            continue
        ids: list[int] = []
        labels: list[int] = []
        positions: list[int] = []
        for i in units[unit]:
            ex = examples[i]
            ids += ex.input_ids
            # the first token of a packed row is not predicted from the row before it
            labels += [IGNORE, *ex.labels[1:]]
            positions += list(range(len(ex.input_ids)))
        rows.append((ids, labels, positions))
    width = max(len(r[0]) for r in rows)
    batch = len(rows)
    input_ids = torch.full((batch, width), pad_id, dtype=torch.long)
    labels_t = torch.full((batch, width), IGNORE, dtype=torch.long)
    packed = units is not None
    mask = None if packed else torch.zeros((batch, width), dtype=torch.long)
    positions_t = torch.zeros((batch, width), dtype=torch.long) if packed else None
    tokens = 0
    for b, (ids, labels, positions) in enumerate(rows):
        n = len(ids)
        tokens += n
        input_ids[b, :n] = torch.tensor(ids)
        labels_t[b, :n] = torch.tensor(labels)
        if packed:
            positions_t[b, :n] = torch.tensor(positions)  # type: ignore[index]
            # padding is one more "row" of its own, so it never joins a real row's attention
            positions_t[b, n:] = torch.arange(width - n)  # type: ignore[index]
        else:
            mask[b, :n] = 1  # type: ignore[index]
    learned = int((labels_t[:, 1:] != IGNORE).sum())
    return Batch(input_ids, labels_t, mask, positions_t, learned, tokens)
