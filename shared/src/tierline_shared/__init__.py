"""Tierline's shared kernel: what every service needs once and only once."""
