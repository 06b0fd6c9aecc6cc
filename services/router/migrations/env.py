"""Alembic environment for the router's own database."""

from tierline_router.adapters.orm import Base
from tierline_shared.migrations import run_env

run_env(Base.metadata)
