"""The router's pure rules: the tier ladder, queue and agent choice, vendor selection."""
