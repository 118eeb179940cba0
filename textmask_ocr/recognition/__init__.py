"""RGB+mask recognizers for users: preprocessing, mask sources, fine-tuning, evaluation."""
