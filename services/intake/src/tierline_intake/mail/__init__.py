"""Intake's email channel: mail in becomes an incident, replies thread onto it, loops are refused."""
