"""Training, sliding-window inference, metrics and evaluation."""
