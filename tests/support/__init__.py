"""Helpers shared by tests that run Tierline's services as real processes."""
