"""What a training run handed to a cluster carries: ``train.py`` is copied into the hand-off
folder as it is and runs there without Hearth (TRL, peft, transformers, accelerate)."""
