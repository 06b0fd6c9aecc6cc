"""Alembic environment for intake's own database."""

from tierline_intake.adapters.orm import Base
from tierline_shared.migrations import run_env

run_env(Base.metadata)
