"""ronda agent: a probe engine that takes its monitors from a hub and sends its verdicts back."""
