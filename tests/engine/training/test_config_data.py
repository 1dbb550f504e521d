"""Options (help on every field, presets, errors that name the field) and the data pipeline
(prompt masking, end-of-turn, length limits, batch order, packing)."""

from __future__ import annotations

import pytest

from engine.chat import templates
from engine.core.errors import UserError
from engine.training import data
from engine.training.config import PRESETS, TrainOptions, fields_info


def test_every_option_has_help_and_presets_are_valid():
    infos = fields_info()
    assert all(i["help"] and i["group"] for i in infos)
    flags = {f for i in infos for f in i["cli"]}
    assert {"--rank", "--seq-len", "--batch", "--max-steps", "--method"} <= flags
    for name in PRESETS:
        assert TrainOptions.from_dict({}, preset=name).rank == PRESETS[name]["rank"]
    opts = TrainOptions.from_dict({"rank": 4}, preset="thorough")
    assert opts.rank == 4 and opts.epochs == 3.0  # values win over the preset


@pytest.mark.parametrize(
    ("values", "needle"),
    [({"rnak": 4}, "rnak"), ({"rank": 0}, "rank"), ({"method": "adapter"}, "method"),
     ({"packing": "yes"}, "packing"), ({"learning_rate": float("nan")}, "learning_rate"),
     ({"template": "nope"}, "nope")],
)  # fmt: skip
def test_bad_options_name_the_field(values, needle):
    with pytest.raises(UserError, match=needle):
        TrainOptions.from_dict(values)


class FakeTok:
    """Characters as tokens; '<E>' and '<|im_end|>' are single special tokens."""

    specials = {"<B>": 1, "<E>": 2, "<|im_end|>": 3, "<|im_start|>": 4}

    def encode(self, text: str) -> list[int]:
        out, i = [], 0
        while i < len(text):
            for sp, tid in self.specials.items():
                if text.startswith(sp, i):
                    out.append(tid)
                    i += len(sp)
                    break
            else:
                out.append(100 + ord(text[i]) % 50)
                i += 1
        return out


def _encoder(template_name: str) -> data.Encoder:
    named = templates.TEMPLATES[template_name]
    chat = templates.ChatTemplate(named.name, named.source, named.stop)
    return data.Encoder(
        FakeTok().encode, chat, bos_id=1, eos_id=2, bos_token="<B>", eos_token="<E>"
    )


CONV = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"},
        {"role": "user", "content": "more"}, {"role": "assistant", "content": "ok"}]  # fmt: skip


def test_chatml_learns_only_the_answers_and_their_end_of_turn_token():
    enc = _encoder("chatml")
    assert enc.eot_token == "<|im_end|>" and not enc.appends_eos
    ex, report = enc.examples([CONV], 256)
    learned = [t for t, label in zip(ex[0].input_ids, ex[0].labels, strict=True) if label != -100]
    text = "".join(chr(t) if t >= 100 else f"[{t}]" for t in learned)
    assert learned.count(3) == 2  # each answer ends with <|im_end|>, which is learned
    assert report.kept == 1 and len([t for t in learned if t >= 100]) == len("yo\nok\n")
    assert ex[0].input_ids[0] == 1 and ex[0].labels[0] == -100  # BOS, not learned
    assert text  # something is learned


def test_plain_template_appends_eos_after_each_answer():
    enc = _encoder("plain")
    assert enc.eot_token is None and enc.appends_eos and enc.end_of_turn == "<E>"
    ex, _ = enc.examples([CONV], 256)
    learned = [t for t, label in zip(ex[0].input_ids, ex[0].labels, strict=True) if label != -100]
    assert learned.count(2) == 2 and learned[-1] == 2


def test_rows_without_answer_room_are_dropped_and_all_dropped_is_refused():
    enc = _encoder("chatml")
    long_prompt = [{"role": "user", "content": "x" * 100}, {"role": "assistant", "content": "y"}]
    empty = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "  "}]
    examples, report = enc.examples([long_prompt, empty, CONV], 40)
    assert report.too_long == 1 and report.empty == 1 and report.kept == 1
    assert all(len(e.input_ids) <= 40 for e in examples)
    _none, report = enc.examples([long_prompt, empty], 40)
    message = report.refusal(40)
    assert "seq_len 40" in message and "1 with nothing to learn" in message


def test_batch_order_is_reproducible_and_grouped_by_length():
    lengths = [5, 50, 6, 49, 7, 48, 8, 47, 9, 46, 10, 45]
    a = data.BatchOrder(lengths, 2, seed=3, group_by_length=True)
    b = data.BatchOrder(lengths, 2, seed=3, group_by_length=True)
    assert [a.batch(m) for m in range(30)] == [b.batch(m) for m in range(30)]
    for m in range(a.per_epoch):
        pair = [lengths[i] for i in a.batch(m)]
        assert max(pair) - min(pair) <= 3  # similar lengths together
    epoch0 = sorted(i for m in range(6) for i in a.batch(m))
    assert epoch0 == list(range(12))  # every row once per epoch
    assert [a.batch(m) for m in range(6)] != [a.batch(m) for m in range(6, 12)]  # reshuffled


def test_packing_restarts_positions_and_masks_the_row_boundaries():
    exs = [data.Example([1, 10, 11], [-100, 10, 11]), data.Example([1, 20], [-100, 20]),
           data.Example([1, 30, 31, 32], [-100, 30, 31, 32])]  # fmt: skip
    blocks = data.pack(exs, 8, seed=0)
    assert sorted(i for b in blocks for i in b) == [0, 1, 2]
    batch = data.collate(exs, blocks, list(range(len(blocks))), pad_id=0)
    assert batch.attention_mask is None
    for row in range(batch.input_ids.shape[0]):
        pos = batch.position_ids[row].tolist()
        starts = [i for i, p in enumerate(pos) if p == 0]
        for s in starts:
            assert batch.labels[row, s] == -100  # nothing predicted across a row boundary


def test_a_dataset_without_a_train_split_is_refused_not_trained_on_its_validation_rows(hearth_home, tmp_path):  # fmt: skip
    import json

    from engine.cli import main
    from engine.core.errors import UserError
    from engine.services import Services
    from engine.training.data import load_rows

    rows = [{"instruction": f"Question {i}?", "output": f"Answer {i}."} for i in range(8)]
    path = tmp_path / "qa.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    assert main(["data", "import", str(path), "--name", "qa"]) == 0
    assert main(["data", "split", "qa", "--train", "0", "--validation", "1", "--test", "0"]) == 0
    services = Services(hearth_home)
    try:
        with pytest.raises(UserError, match="no 'train' split, so training would use every row"):
            load_rows(services, "qa")
        with pytest.raises(UserError, match="both trained on and evaluated on"):
            load_rows(services, "qa", split="validation")
    finally:
        services.close()
    assert (
        main(["data", "split", "qa", "--train", "0.75", "--validation", "0.25", "--test", "0"]) == 0
    )
    services = Services(hearth_home)
    try:
        fine = load_rows(services, "qa")
        assert fine.source["split"] == "train" and fine.source["validation_split"] == "validation"
        assert len(fine.train) == 6 and len(fine.validation) == 2
    finally:
        services.close()
