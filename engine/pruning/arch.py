"""Where the parts a pruner touches live in each architecture, in one place.

Two MLP shapes are known:

- **GLU** (Llama, Mistral, Qwen 2/3, Gemma 3): ``mlp.gate_proj`` and ``mlp.up_proj`` (``nn.Linear``,
  weight ``[I, H]``) and ``mlp.down_proj`` (weight ``[H, I]``). Neuron *i* is row *i* of gate and
  up and column *i* of down; the three are always cut together.
- **GPT-2 style**: ``mlp.c_fc`` and ``mlp.c_proj`` are ``Conv1D`` (weight ``[in, out]``), so
  neuron *i* is column *i* of ``c_fc`` (and its bias) and row *i* of ``c_proj``.

The decoder blocks sit at ``model.model.layers`` (Llama family, Gemma 3), ``model.transformer.h``
(GPT-2) or ``model.model.language_model.layers`` (Gemma 3 multimodal wrappers). Changing their
number means re-indexing what depends on position: each attention's ``layer_idx`` (the KV cache
is indexed by it), ``num_hidden_layers``/``n_layer``, and Gemma 3's ``layer_types`` (which layers
use the sliding window). Gemma 3 also ties the LM head to the embeddings and has q/k norms: none
of those are touched by MLP or block pruning, and attention bypass zeroes only ``o_proj``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.core.errors import UserError

GLU = "glu"
GPT2 = "gpt2"


@dataclass
class Layout:
    model: Any
    parent: Any  # the module whose attribute holds the block list
    attr: str  # "layers" or "h"
    mlp_kind: str
    config: Any  # the text config (num_hidden_layers, intermediate_size, layer_types...)

    @property
    def blocks(self) -> Any:
        return getattr(self.parent, self.attr)

    @property
    def n_layers(self) -> int:
        return len(self.blocks)

    @property
    def hidden_size(self) -> int:
        c = self.config
        return int(getattr(c, "hidden_size", None) or c.n_embd)

    @property
    def intermediate_size(self) -> int:
        return self.width_of(0)

    def width_of(self, i: int) -> int:
        first = self.mlp(i)[0]
        return int(first.out_features if self.mlp_kind == GLU else first.nf)

    def mlp(self, i: int) -> tuple[Any, ...]:
        """(gate, up, down) for GLU, (c_fc, c_proj) for GPT-2."""
        mlp = self.blocks[i].mlp
        if self.mlp_kind == GLU:
            return mlp.gate_proj, mlp.up_proj, mlp.down_proj
        return mlp.c_fc, mlp.c_proj

    def down(self, i: int) -> Any:
        """The module whose input is the MLP's hidden activation (one column per neuron)."""
        return self.mlp(i)[-1]

    def attention(self, i: int) -> Any:
        block = self.blocks[i]
        return getattr(block, "self_attn", None) or block.attn

    def attn_out(self, i: int) -> Any:
        """The attention's output projection (zeroed by a bypass)."""
        attn = self.attention(i)
        return getattr(attn, "o_proj", None) or attn.c_proj

    def attn_added(self, i: int) -> tuple[Any, bool]:
        """(module, takes_first) whose output is what the attention adds to the residual stream:
        Gemma's post-attention norm (applied to the attention output before the add), else the
        attention itself (its output is a tuple whose first item is added)."""
        block = self.blocks[i]
        if hasattr(block, "pre_feedforward_layernorm"):  # Gemma 2/3: post-norm before the add
            return block.post_attention_layernorm, False
        return self.attention(i), True

    def layer_types(self) -> list[str] | None:
        types = getattr(self.config, "layer_types", None)
        return list(types) if types else None


def _find(model: Any) -> tuple[Any, str]:
    for path in ("model.layers", "model.language_model.layers", "transformer.h", "model.decoder.layers"):  # fmt: skip
        parent = model
        *heads, attr = path.split(".")
        ok = True
        for part in heads:
            parent = getattr(parent, part, None)
            if parent is None:
                ok = False
                break
        if ok and hasattr(parent, attr):
            return parent, attr
    children = ", ".join(name for name, _ in list(model.named_children())[:6])
    raise UserError(
        f"The pruner does not recognise this model's layer list ({type(model).__name__} holds: "
        f"{children or 'no sub-modules'}); it knows Llama, Mistral, Qwen, Gemma 3 and GPT-2 layouts."
    )


def layout(model: Any) -> Layout:
    """The layout of a causal LM, or a ``UserError`` naming what was found instead."""
    parent, attr = _find(model)
    blocks = getattr(parent, attr)
    if len(blocks) == 0:
        raise UserError("This model has no decoder blocks to prune.")
    mlp = getattr(blocks[0], "mlp", None)
    if mlp is None:
        names = ", ".join(n for n, _ in blocks[0].named_children())
        raise UserError(f"The pruner found no MLP in the first block (it holds: {names}).")
    if all(hasattr(mlp, n) for n in ("gate_proj", "up_proj", "down_proj")):
        kind = GLU
    elif hasattr(mlp, "c_fc") and hasattr(mlp, "c_proj"):
        kind = GPT2
    else:
        names = ", ".join(n for n, _ in mlp.named_children())
        raise UserError(
            f"The pruner does not recognise this MLP ({type(mlp).__name__} with {names}); it knows "
            "gate/up/down GLU MLPs and GPT-2's c_fc/c_proj."
        )
    config = model.config
    config = getattr(config, "text_config", None) or config
    out = Layout(model, parent, attr, kind, config)
    sizes = {out.width_of(i) for i in range(out.n_layers)}
    if len(sizes) != 1:
        raise UserError(
            "This model's blocks have different MLP widths; Hearth prunes uniform ones."
        )
    return out


# -- changes ---------------------------------------------------------------------------------
def keep_neurons(lay: Layout, i: int, idx: Any, down_weight: Any = None) -> None:
    """Keep the MLP neurons ``idx`` (sorted LongTensor) of block ``i``; ``down_weight``, when
    given, replaces the kept down-projection weight (``[H, k]``, a refit)."""
    import torch

    with torch.no_grad():
        if lay.mlp_kind == GLU:
            gate, up, down = lay.mlp(i)
            mlp = lay.blocks[i].mlp
            mlp.gate_proj = _linear_rows(gate, idx)
            mlp.up_proj = _linear_rows(up, idx)
            new_down = torch.nn.Linear(len(idx), down.out_features, bias=down.bias is not None,
                                       dtype=down.weight.dtype, device=down.weight.device)  # fmt: skip
            w = down.weight[:, idx] if down_weight is None else down_weight
            new_down.weight.copy_(w.to(down.weight.dtype))
            if down.bias is not None:
                new_down.bias.copy_(down.bias)
            mlp.down_proj = new_down
            if hasattr(mlp, "intermediate_size"):
                mlp.intermediate_size = len(idx)
        else:
            from transformers.pytorch_utils import Conv1D

            c_fc, c_proj = lay.mlp(i)
            mlp = lay.blocks[i].mlp
            fc = Conv1D(len(idx), c_fc.weight.shape[0])
            fc.weight = torch.nn.Parameter(c_fc.weight[:, idx].clone())
            fc.bias = torch.nn.Parameter(c_fc.bias[idx].clone())
            proj = Conv1D(c_proj.nf, len(idx))
            w = c_proj.weight[idx, :] if down_weight is None else down_weight.T
            proj.weight = torch.nn.Parameter(w.to(c_proj.weight.dtype).clone())
            proj.bias = torch.nn.Parameter(c_proj.bias.clone())
            mlp.c_fc, mlp.c_proj = fc.to(c_fc.weight.device), proj.to(c_proj.weight.device)


def _linear_rows(lin: Any, idx: Any) -> Any:
    import torch

    new = torch.nn.Linear(lin.in_features, len(idx), bias=lin.bias is not None,
                          dtype=lin.weight.dtype, device=lin.weight.device)  # fmt: skip
    new.weight.copy_(lin.weight[idx])
    if lin.bias is not None:
        new.bias.copy_(lin.bias[idx])
    return new


def set_width(lay: Layout, width: int) -> None:
    if lay.mlp_kind == GLU:
        lay.config.intermediate_size = int(width)
    else:
        lay.config.n_inner = int(width)


def keep_blocks(lay: Layout, keep: list[int]) -> None:
    """Keep the blocks ``keep`` (in order) and re-index everything that depends on position."""
    import torch

    types = lay.layer_types()
    blocks = [lay.blocks[i] for i in keep]
    setattr(lay.parent, lay.attr, torch.nn.ModuleList(blocks))
    for new, block in enumerate(blocks):
        for module in (block, lay.attention(new)):
            if hasattr(module, "layer_idx"):
                module.layer_idx = new
    c = lay.config
    if hasattr(c, "n_layer") and not hasattr(c, "num_hidden_layers"):
        c.n_layer = len(keep)
    else:
        c.num_hidden_layers = len(keep)
        if hasattr(c, "n_layer"):
            c.n_layer = len(keep)
    if types is not None:
        c.layer_types = [types[i] for i in keep]
    outer = lay.model.config
    if outer is not c and hasattr(outer, "num_hidden_layers"):
        outer.num_hidden_layers = len(keep)


def count_params(model: Any) -> int:
    """Parameters, with tied weights counted once."""
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
    return total


def block_params(lay: Layout) -> int:
    return sum(p.numel() for p in lay.blocks[0].parameters())


def mlp_params_per_neuron(lay: Layout) -> int:
    """Parameters one MLP neuron of one block holds (3·H for GLU, 2·H + 1 for GPT-2)."""
    h = lay.hidden_size
    if lay.mlp_kind == GLU:
        gate, up, _ = lay.mlp(0)
        return 3 * h + (gate.bias is not None) + (up.bias is not None)
    return 2 * h + 1
