"""Tierline console: the desk's web pages, a backend-for-frontend over the other services' APIs."""

__version__ = "0.1.0"
