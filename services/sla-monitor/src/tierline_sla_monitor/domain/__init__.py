"""The SLA monitor's pure rules: targets per priority and how a clock ends."""
