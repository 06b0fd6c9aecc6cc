"""Alembic environment for the notifier's own database."""

from tierline_notifier.adapters.orm import Base
from tierline_shared.migrations import run_env

run_env(Base.metadata)
