"""Intake's pure rules: priority derivation, the incident state machine and SLA countdowns."""
