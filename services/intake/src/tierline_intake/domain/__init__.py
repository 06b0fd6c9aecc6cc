"""Intake's pure rules: priority derivation and the incident state machine."""
