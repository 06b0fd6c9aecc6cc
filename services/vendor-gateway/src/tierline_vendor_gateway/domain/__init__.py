"""The vendor gateway's pure rules: retry schedule and the case payload."""
