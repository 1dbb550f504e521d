"""The bias lab: prompt pair sets, one capture of every layer per set and model, and the
differences every view is drawn from (no forward pass after the capture)."""
