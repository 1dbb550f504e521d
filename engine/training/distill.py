"""Knowledge distillation: a teacher model's next-token distributions as the training signal.

The loss of a micro-batch, summed over the positions that have a label (so gradient accumulation
weighs every token equally, as the plain loss does):

    (1 - w) * CE(student, text) + w * T^2 * KL(softmax(t / T) || softmax(s / T))
    + h * sum over mapped layers of (1 - cos(student hidden, teacher hidden))

``w`` is ``kd_weight``, ``T`` ``kd_temperature`` (the T^2 keeps the gradient's scale as T changes,
as in Hinton et al.), ``h`` ``kd_hidden_weight``. Student layer j is aligned with the teacher layer
it came from: a depth-pruned model's ``hearth-lineage.json`` lists the blocks it kept; otherwise
the layers map one to one (width pruning keeps every block), or evenly when the counts differ.
The teacher runs without gradients, in eval mode, on the same batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.training.loss import IGNORE

if TYPE_CHECKING:
    from engine.services import Services


PROBE = "The quick brown fox, 1234 jumps over 5.6 lazy dogs: naïve café, straße, 東京 -- ok?\n  def f(x): return x"


def check_teacher(services: Services, student: dict[str, Any], teacher_id: str) -> dict[str, Any]:
    """Refuse a teacher that cannot teach ``student``: not a chat model, the student itself, or
    another tokenizer (the same text must become the same tokens), before any weights load."""
    from engine.datasets.tokens import load_tokenizer

    teacher = services.library.get(teacher_id)
    if teacher.get("role") != "llm":
        raise UserError(f"The teacher {teacher['name']} is not a chat model.")
    if teacher["id"] == student["id"]:
        raise UserError("The teacher and the student are the same model; choose a larger teacher "
                        "of the same family (or the model a pruned one came from).")  # fmt: skip
    theirs = load_tokenizer(services, teacher["id"]).encode(PROBE)
    ours = load_tokenizer(services, student["id"]).encode(PROBE)
    if theirs != ours:
        raise UserError(
            f"{teacher['name']} and {student['name']} have different tokenizers (the same text "
            "becomes different tokens), so the student cannot learn the teacher's next-token "
            "distributions; choose a teacher of the student's family."
        )
    return teacher


def load_teacher(services: Services, teacher_id: str, student: Any, *, device: str, ctx: Any = None) -> Any:  # fmt: skip
    from engine.models.gguf_to_torch import load_torch_model

    teacher = services.library.get(teacher_id)
    if teacher.get("role") != "llm":
        raise UserError(f"The teacher {teacher['name']} is not a chat model.")
    if ctx is not None:
        ctx.progress(None, f"Loading the teacher {teacher['name']}")
    lm, _tok = load_torch_model(teacher, services=services, device=device, ctx=ctx)
    vocab = lm.get_output_embeddings().weight.shape[0]
    if vocab != student.get_output_embeddings().weight.shape[0]:
        raise UserError(f"The teacher {teacher['name']} has another vocabulary than the model; distillation needs the same tokenizer.")  # fmt: skip
    lm.eval()
    for p in lm.parameters():
        p.requires_grad_(False)
    return lm


def layer_map(student_path: str | None, n_student: int, n_teacher: int) -> list[int]:
    """Teacher layer index for each student layer."""
    if student_path:
        from engine.pruning.pipeline import read_lineage

        lineage = read_lineage(student_path) or {}
        kept = lineage.get("layer_map")
        if isinstance(kept, list) and len(kept) == n_student and all(isinstance(i, int) and 0 <= i < n_teacher for i in kept):  # fmt: skip
            return kept
    if n_student == n_teacher:
        return list(range(n_student))
    return [round((j + 1) * n_teacher / n_student) - 1 for j in range(n_student)]


def make_loss(teacher: Any, *, weight: float, temperature: float, hidden_weight: float,
              mapping: list[int] | None) -> Any:  # fmt: skip
    import torch
    import torch.nn.functional as F

    def fn(model: Any, batch: Any) -> tuple[Any, int]:
        kw = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask,
              "position_ids": batch.position_ids, "use_cache": False}  # fmt: skip
        hidden = hidden_weight > 0
        out = model(**kw, output_hidden_states=hidden)
        with torch.no_grad():
            t_out = teacher(**kw, output_hidden_states=hidden)
        targets = batch.labels[:, 1:]
        mask = targets != IGNORE
        n = int(mask.sum())
        if n == 0:
            return out.logits.sum() * 0.0, 0
        s = out.logits[:, :-1][mask].float()
        t = t_out.logits[:, :-1][mask].float()
        y = targets[mask]
        total = (
            (1 - weight) * F.cross_entropy(s, y, reduction="sum") if weight < 1 else s.sum() * 0.0
        )
        if weight > 0:
            T = temperature
            kl = F.kl_div(F.log_softmax(s / T, -1), F.log_softmax(t / T, -1), log_target=True,
                          reduction="sum")  # fmt: skip
            total = total + weight * T * T * kl
        if hidden:
            pos = batch.labels != IGNORE
            for j, ti in enumerate(mapping or []):
                hs = out.hidden_states[j + 1][pos].float()
                ht = t_out.hidden_states[ti + 1][pos].float()
                total = total + hidden_weight * (1 - F.cosine_similarity(hs, ht, dim=-1)).sum()
        return total, n

    return fn
